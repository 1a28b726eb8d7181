import { useState, type DragEvent, type FormEvent } from "react";
import { Avatar, Badge, Button, Card, Checkbox, EmptyState, SelectField, Skeleton, TextArea, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { dayKey } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { useDeleteTask, useMoveTask, useSaveTask, useTasks, type StudyTask } from "./api";
import { allowedTargets, canMove, columns, PRIORITIES, STATUSES, type Priority, type TaskStatus } from "./transitions";

const PRIORITY_TONE: Record<Priority, "neutral" | "primary" | "warning" | "danger"> = {
  LOW: "neutral", MEDIUM: "primary", HIGH: "warning", URGENT: "danger" };

/** The study's kanban: drag a card to another column, or pick the move from the card's menu. */
export function TasksBoard({ study, myId }: { study: Study; myId: string }) {
  const { t } = useI18n();
  const toast = useToast();
  const tasks = useTasks(study.id);
  const move = useMoveTask(study.id);
  const [dragging, setDragging] = useState<StudyTask | null>(null);
  const [over, setOver] = useState<TaskStatus | null>(null);
  const [editing, setEditing] = useState<StudyTask | "new" | null>(null);
  const [onlyMine, setOnlyMine] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";

  const canEdit = (task: StudyTask) => isAdmin || task.created_by.id === myId || task.assignees.some((a) => a.id === myId);
  const moveTo = (task: StudyTask, status: TaskStatus) => {
    if (task.status === status) return;
    if (!canMove(task.status, status)) { toast(t("tasks.notAllowed"), "error"); return; }
    move.mutate({ id: task.id, status }, {
      onSuccess: () => setAnnouncement(t("tasks.moved", { title: task.title, status: t(`tasks.status.${status}` as MessageKey) })),
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };

  const onDrop = (event: DragEvent, status: TaskStatus) => {
    event.preventDefault();
    setOver(null);
    if (dragging) moveTo(dragging, status);
    setDragging(null);
  };

  if (tasks.isPending) return <Card><Skeleton height={80} count={3} /></Card>;
  if (tasks.isError) return <EmptyState icon="⚠️" title={errorText(tasks.error, t)} action={<Button onClick={() => tasks.refetch()}>{t("app.retry")}</Button>} />;
  const list = onlyMine ? tasks.data.filter((task) => task.assignees.some((a) => a.id === myId)) : tasks.data;
  const grouped = columns(list);
  return (
    <div className="stack">
      <div className="visually-hidden" aria-live="polite">{announcement}</div>
      <div className="row-between">
        <h2 id="tasks-title" className="panel-title">{t("roomTab.tasks")}</h2>
        <div className="row">
          <Checkbox label={t("tasks.onlyMine")} checked={onlyMine} onChange={(event) => setOnlyMine(event.target.checked)} />
          {isAdmin && <Button onClick={() => setEditing("new")}>{t("tasks.new")}</Button>}
        </div>
      </div>
      {editing && <TaskForm study={study} task={editing === "new" ? null : editing} onDone={() => setEditing(null)} />}
      <p className="muted small">{t("tasks.dragHint")}</p>
      <div className="kanban">
        {STATUSES.map((status) => {
          const droppable = dragging ? canMove(dragging.status, status) && dragging.status !== status : false;
          return (
            <section key={status} className="kanban-col" aria-labelledby={`col-${status}`} data-status={status}
              data-drop={dragging ? (droppable ? "allowed" : "blocked") : undefined} data-over={over === status || undefined}
              onDragOver={(event) => { if (droppable) { event.preventDefault(); event.dataTransfer.dropEffect = "move"; setOver(status); } }}
              onDragLeave={() => setOver((current) => (current === status ? null : current))}
              onDrop={(event) => onDrop(event, status)}>
              <h3 id={`col-${status}`} className="kanban-head">
                {t(`tasks.status.${status}` as MessageKey)} <span className="badge">{grouped[status].length}</span>
              </h3>
              <ul className="plain-list kanban-list">
                {grouped[status].map((task) => (
                  <TaskCard key={task.id} task={task} editable={canEdit(task)} deletable={isAdmin || task.created_by.id === myId}
                    onDragStart={() => setDragging(task)} onDragEnd={() => { setDragging(null); setOver(null); }}
                    onMove={(to) => moveTo(task, to)} onEdit={() => setEditing(task)} studyId={study.id} />
                ))}
              </ul>
              {grouped[status].length === 0 && <p className="muted small kanban-empty">{t("tasks.emptyColumn")}</p>}
            </section>
          );
        })}
      </div>
    </div>
  );
}

function TaskCard({ task, editable, deletable, onDragStart, onDragEnd, onMove, onEdit, studyId }: {
  task: StudyTask; editable: boolean; deletable: boolean; onDragStart: () => void; onDragEnd: () => void;
  onMove: (status: TaskStatus) => void; onEdit: () => void; studyId: string;
}) {
  const { t } = useI18n();
  const confirm = useConfirm();
  const toast = useToast();
  const remove = useDeleteTask(studyId);
  const timeZone = useTimeZone();
  const today = dayKey(new Date().toISOString(), timeZone);
  const overdue = task.due_date && task.due_date < today && task.status !== "DONE" && task.status !== "CANCELLED";
  const onDelete = async () => {
    if (!(await confirm(t("tasks.deleteConfirm", { title: task.title }), { danger: true, confirmLabel: t("roomUi.delete") }))) return;
    remove.mutate(task.id, { onError: (error) => toast(errorText(error, t), "error") });
  };
  return (
    <li className="task-card card" draggable={editable} data-task={task.title}
      onDragStart={(event) => { event.dataTransfer.setData("text/plain", task.id); event.dataTransfer.effectAllowed = "move"; onDragStart(); }}
      onDragEnd={onDragEnd} aria-label={task.title}>
      <div className="row-between task-top">
        <strong className="task-title">{task.title}</strong>
        <Badge tone={PRIORITY_TONE[task.priority]}>{t(`tasks.priority.${task.priority}` as MessageKey)}</Badge>
      </div>
      {task.description && <p className="small muted task-desc">{task.description}</p>}
      <div className="row task-meta small">
        {task.due_date && <span className={overdue ? "error-text small" : "muted"}>{t("tasks.due", { date: task.due_date })}</span>}
        {task.assignees.length > 0 && (
          <span className="avatars" aria-label={t("tasks.assignees", { names: task.assignees.map((a) => a.name).join(", ") })}>
            {task.assignees.slice(0, 4).map((user) => <Avatar key={user.id} name={user.name} src={user.avatar} size={24} />)}
            {task.assignees.length > 4 && <span className="small muted">+{task.assignees.length - 4}</span>}
          </span>
        )}
      </div>
      {editable && (
        <div className="row task-actions">
          <label className="visually-hidden" htmlFor={`move-${task.id}`}>{t("tasks.moveLabel", { title: task.title })}</label>
          <select id={`move-${task.id}`} className="task-move" value="" onChange={(event) => { if (event.target.value) onMove(event.target.value as TaskStatus); }}>
            <option value="">{t("tasks.moveTo")}</option>
            {allowedTargets(task.status).map((status) => <option key={status} value={status}>{t(`tasks.status.${status}` as MessageKey)}</option>)}
          </select>
          <Button size="s" variant="ghost" onClick={onEdit} aria-label={`${t("roomUi.edit")}: ${task.title}`}>{t("roomUi.edit")}</Button>
          {deletable && <Button size="s" variant="ghost" onClick={onDelete} aria-label={`${t("roomUi.delete")}: ${task.title}`}>{t("roomUi.delete")}</Button>}
        </div>
      )}
    </li>
  );
}

function TaskForm({ study, task, onDone }: { study: Study; task: StudyTask | null; onDone: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const save = useSaveTask(study.id);
  const [title, setTitle] = useState(task?.title ?? "");
  const [description, setDescription] = useState(task?.description ?? "");
  const [priority, setPriority] = useState<Priority>(task?.priority ?? "MEDIUM");
  const [due, setDue] = useState(task?.due_date ?? "");
  const [assignees, setAssignees] = useState<string[]>(task?.assignees.map((a) => a.id) ?? []);
  const errors = fieldErrors(save.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body = { title: title.trim(), description: description.trim(), priority, assignee_ids: assignees,
      ...(due || task?.due_date ? { due_date: due || null } : {}) };
    save.mutate({ id: task?.id, body }, {
      onSuccess: () => { toast(t(task ? "tasks.saved" : "tasks.created")); onDone(); },
      onError: (error) => { if (!Object.keys(fieldErrors(error)).length) toast(errorText(error, t), "error"); },
    });
  };
  const toggle = (id: string, on: boolean) => setAssignees((current) => (on ? [...current, id] : current.filter((value) => value !== id)));
  return (
    <Card>
      <form className="stack" onSubmit={submit} aria-labelledby="task-form-title">
        <h3 id="task-form-title">{t(task ? "tasks.editTitle" : "tasks.new")}</h3>
        <TextField label={t("tasks.title")} value={title} onChange={(event) => setTitle(event.target.value)} required minLength={2} maxLength={100} error={errors.title} autoFocus />
        <TextArea label={t("tasks.description")} value={description} onChange={(event) => setDescription(event.target.value)} maxLength={1000} error={errors.description} />
        <div className="form-row">
          <SelectField label={t("tasks.priorityLabel")} value={priority} onChange={(event) => setPriority(event.target.value as Priority)}>
            {PRIORITIES.map((value) => <option key={value} value={value}>{t(`tasks.priority.${value}` as MessageKey)}</option>)}
          </SelectField>
          <TextField label={t("tasks.dueDate")} type="date" value={due} onChange={(event) => setDue(event.target.value)} error={errors.due_date} />
        </div>
        <fieldset className="fieldset">
          <legend>{t("tasks.assigneesLabel")}</legend>
          <div className="assignee-grid">
            {study.members.map((member) => (
              <Checkbox key={member.user_id} label={member.user.name} checked={assignees.includes(member.user_id)}
                onChange={(event) => toggle(member.user_id, event.target.checked)} />
            ))}
          </div>
          {errors.assignee_ids && <p className="error-text" role="alert">{errors.assignee_ids}</p>}
        </fieldset>
        {save.error && !Object.keys(errors).length ? <p className="error-text" role="alert">{errorText(save.error, t)}</p> : null}
        <div className="row">
          <Button type="submit" busy={save.isPending}>{t(task ? "roomUi.save" : "tasks.create")}</Button>
          <Button variant="secondary" onClick={onDone}>{t("app.cancel")}</Button>
        </div>
      </form>
    </Card>
  );
}
