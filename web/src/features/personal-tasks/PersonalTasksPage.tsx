import { useState, type FormEvent, type ReactNode } from "react";
import { Badge, Button, Card, EmptyState, SelectField, Skeleton, TextArea, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { dayKey } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useCreateTask, useDeleteTask, useMyActiveStudies, useTasks, useTaskStats, useToggleTask, useUpdateTask, type PersonalTask, type TaskFilters } from "./api";
import { changedFields, dueState, PRIORITIES, TASK_STATUSES, type Priority, type TaskStatus } from "./task-rules";
import "../../styles/pages.css";

interface Draft { title: string; description: string; priority: Priority; due_date: string; study_id: string; status: TaskStatus }
const EMPTY: Draft = { title: "", description: "", priority: "MEDIUM", due_date: "", study_id: "", status: "TODO" };

export function PersonalTasksPage() {
  const { t } = useI18n();
  const [filters, setFilters] = useState<TaskFilters>({ status: "all", sort_by: "deadline", study_id: "" });
  const tasks = useTasks(filters);
  const stats = useTaskStats();
  const studies = useMyActiveStudies();
  const items = tasks.data?.pages.flatMap((page) => page.data) ?? [];
  const set = (key: keyof TaskFilters) => (event: { target: { value: string } }) => setFilters((current) => ({ ...current, [key]: event.target.value }));

  return (
    <div className="page page-medium">
      <h1>{t("ptasks.title")}</h1>
      {stats.data && (
        <dl className="stat-grid stat-grid-wide">
          <div className="stat"><dt>{t("ptasks.stat.pending")}</dt><dd>{stats.data.summary.pending}</dd></div>
          <div className="stat"><dt>{t("ptasks.stat.today")}</dt><dd>{stats.data.timeline.today}</dd></div>
          <div className="stat"><dt>{t("ptasks.stat.overdue")}</dt><dd>{stats.data.timeline.overdue}</dd></div>
          <div className="stat"><dt>{t("ptasks.stat.rate")}</dt><dd>{stats.data.summary.completion_rate}%</dd></div>
        </dl>
      )}
      <Card><TaskForm studies={studies.data ?? []} /></Card>
      <div className="toolbar">
        <SelectField label={t("ptasks.filterStatus")} value={filters.status} onChange={set("status")}>
          <option value="all">{t("ptasks.filter.all")}</option>
          <option value="incomplete">{t("ptasks.filter.incomplete")}</option>
          <option value="completed">{t("ptasks.filter.completed")}</option>
          {TASK_STATUSES.map((status) => <option key={status} value={status}>{t(`pages.taskStatus.${status}` as MessageKey)}</option>)}
        </SelectField>
        <SelectField label={t("ptasks.sort")} value={filters.sort_by} onChange={set("sort_by")}>
          <option value="deadline">{t("ptasks.sort.deadline")}</option>
          <option value="priority">{t("ptasks.sort.priority")}</option>
          <option value="created_at">{t("ptasks.sort.created")}</option>
        </SelectField>
        <SelectField label={t("ptasks.study")} value={filters.study_id} onChange={set("study_id")}>
          <option value="">{t("ptasks.allStudies")}</option>
          {(studies.data ?? []).map((study) => <option key={study.id} value={study.id}>{study.emoji} {study.name}</option>)}
        </SelectField>
      </div>
      {tasks.isPending ? <Skeleton height={56} count={4} /> : tasks.isError ? (
        <EmptyState icon="⚠️" title={errorText(tasks.error, t)} action={<Button onClick={() => tasks.refetch()}>{t("app.retry")}</Button>} />
      ) : items.length === 0 ? (
        <EmptyState icon="✅" title={t("ptasks.emptyTitle")} body={t("ptasks.emptyBody")} />
      ) : (
        <ul className="plain-list stack-s" aria-label={t("ptasks.listLabel")}>
          {items.map((task) => <TaskRow key={task.id} task={task} studies={studies.data ?? []} />)}
        </ul>
      )}
      {tasks.hasNextPage && (
        <div className="load-more"><Button variant="secondary" busy={tasks.isFetchingNextPage} onClick={() => tasks.fetchNextPage()}>{t("studies.loadMore")}</Button></div>
      )}
    </div>
  );
}

type StudyOption = { id: string; name: string; emoji: string };

function TaskForm({ studies, task, onDone }: { studies: StudyOption[]; task?: PersonalTask; onDone?: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const create = useCreateTask();
  const update = useUpdateTask();
  const initial: Draft = task ? {
    title: task.title, description: task.description ?? "", priority: task.priority, due_date: task.due_date ?? "",
    study_id: task.study?.id ?? "", status: task.status,
  } : EMPTY;
  const [draft, setDraft] = useState<Draft>(initial);
  const mutation = task ? update : create;
  const errors = fieldErrors(mutation.error);
  const set = (key: keyof Draft) => (event: { target: { value: string } }) => setDraft((current) => ({ ...current, [key]: event.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!draft.title.trim()) return;
    if (task) {
      const body: Record<string, unknown> = changedFields(initial, draft);
      if (!Object.keys(body).length) { onDone?.(); return; }
      update.mutate({ id: task.id, body }, { onSuccess: () => { toast(t("ptasks.saved")); onDone?.(); } });
    } else {
      create.mutate({ title: draft.title, description: draft.description || null, priority: draft.priority,
        due_date: draft.due_date || null, study_id: draft.study_id || null }, {
        onSuccess: () => { toast(t("ptasks.created")); setDraft(EMPTY); },
      });
    }
  };
  return (
    <form className="stack" onSubmit={submit} noValidate aria-label={task ? t("ptasks.editTitle", { title: task.title }) : t("ptasks.new")}>
      {!task && <h2>{t("ptasks.new")}</h2>}
      <TextField label={t("ptasks.taskTitle")} value={draft.title} onChange={set("title")} maxLength={100} required error={errors.title ?? null} />
      <Optional open={Boolean(task) || Object.keys(errors).length > 0} summary={t("ptasks.more")}>
      <TextArea label={t("ptasks.description")} value={draft.description} onChange={set("description")} maxLength={1000} rows={2} error={errors.description ?? null} />
      <div className="form-row">
        <SelectField label={t("ptasks.priority")} value={draft.priority} onChange={set("priority")}>
          {PRIORITIES.map((priority) => <option key={priority} value={priority}>{t(`pages.priority.${priority}` as MessageKey)}</option>)}
        </SelectField>
        <TextField label={t("ptasks.dueDate")} type="date" value={draft.due_date} onChange={set("due_date")} error={errors.due_date ?? null} />
        <SelectField label={t("ptasks.study")} value={draft.study_id} onChange={set("study_id")} error={errors.study_id ?? null}>
          <option value="">{t("ptasks.noStudy")}</option>
          {studies.map((study) => <option key={study.id} value={study.id}>{study.emoji} {study.name}</option>)}
        </SelectField>
        {task && (
          <SelectField label={t("ptasks.status")} value={draft.status} onChange={set("status")}>
            {TASK_STATUSES.map((status) => <option key={status} value={status}>{t(`pages.taskStatus.${status}` as MessageKey)}</option>)}
          </SelectField>
        )}
      </div>
      </Optional>
      {mutation.error && !Object.keys(errors).length && <p className="error-text" role="alert">{errorText(mutation.error, t)}</p>}
      <div className="row">
        <Button type="submit" busy={mutation.isPending} disabled={!draft.title.trim()}>{task ? t("ptasks.save") : t("ptasks.add")}</Button>
        {task && <Button variant="ghost" onClick={onDone}>{t("app.cancel")}</Button>}
      </div>
    </form>
  );
}

/** The new-task form starts as just a title; the other fields fold out (an edit shows them all). */
function Optional({ open, summary, children }: { open: boolean; summary: string; children: ReactNode }) {
  if (open) return <>{children}</>;
  return <details className="more-fields"><summary>{summary}</summary><div className="stack">{children}</div></details>;
}

function TaskRow({ task, studies }: { task: PersonalTask; studies: StudyOption[] }) {
  const { t } = useI18n();
  const toast = useToast();
  const confirm = useConfirm();
  const timeZone = useTimeZone();
  const toggle = useToggleTask();
  const remove = useDeleteTask();
  const [editing, setEditing] = useState(false);
  const due = dueState(task.due_date, dayKey(new Date().toISOString(), timeZone), task.completed);
  const onDelete = async () => {
    if (!(await confirm(t("ptasks.deleteConfirm", { title: task.title }), { danger: true, confirmLabel: t("ptasks.delete") }))) return;
    remove.mutate(task.id, { onSuccess: () => toast(t("ptasks.deleted")), onError: (error) => toast(errorText(error, t), "error") });
  };
  if (editing) return <li><Card><TaskForm task={task} studies={studies} onDone={() => setEditing(false)} /></Card></li>;
  return (
    <li>
      <Card className={task.completed ? "task-row task-done" : "task-row"}>
        <input type="checkbox" className="task-check" checked={task.completed} disabled={toggle.isPending || task.status === "CANCELLED"}
          aria-label={t(task.completed ? "ptasks.markUndone" : "ptasks.markDone", { title: task.title })}
          onChange={() => toggle.mutate(task.id, { onError: (error) => toast(errorText(error, t), "error") })} />
        <div className="grow stack-xs">
          <p className="task-title">{task.title}</p>
          {task.description && <p className="muted small pre-line">{task.description}</p>}
          <div className="row row-tight">
            <Badge tone={task.priority === "URGENT" || task.priority === "HIGH" ? "danger" : "neutral"}>{t(`pages.priority.${task.priority}` as MessageKey)}</Badge>
            <Badge tone={task.status === "DONE" ? "success" : task.status === "CANCELLED" ? "neutral" : "primary"}>{t(`pages.taskStatus.${task.status}` as MessageKey)}</Badge>
            {task.due_date && (
              <Badge tone={due === "overdue" ? "danger" : due === "today" ? "warning" : "neutral"}>
                {t(due === "overdue" ? "ptasks.overdue" : due === "today" ? "ptasks.dueToday" : "ptasks.due", { date: task.due_date })}
              </Badge>
            )}
            {task.study && <Badge>{task.study.emoji} {task.study.name}</Badge>}
          </div>
        </div>
        <div className="row row-tight">
          <Button variant="ghost" size="s" onClick={() => setEditing(true)} aria-label={t("ptasks.editTitle", { title: task.title })}>{t("ptasks.edit")}</Button>
          <Button variant="ghost" size="s" onClick={onDelete} busy={remove.isPending} aria-label={t("ptasks.deleteTitle", { title: task.title })}>{t("ptasks.delete")}</Button>
        </div>
      </Card>
    </li>
  );
}
