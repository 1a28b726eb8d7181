import { useState, type ReactNode } from "react";
import { Link } from "react-router";
import { Badge, Button, Card, Checkbox, EmptyState, SelectField, Skeleton, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useSession } from "../../lib/session";
import {
  useActivityStats, useDashboard, useDashboardLive, useOpenTasks, useRecentActivities, useSaveWidgets, useTaskStats,
  useUnreadNotifications, useUpcoming, useWidgets, type DashboardHome,
} from "./api";
import { moveWidget, updateWidget, visibleWidgets, withAvailable, type Widget, type WidgetSize, type WidgetType } from "./widget-layout";
import "../../styles/pages.css";

/** The signed-in home: a summary and the person's own widget layout. */
export function DashboardPage() {
  const { t } = useI18n();
  const me = useSession().data;
  const home = useDashboard();
  const widgets = useWidgets();
  const [editing, setEditing] = useState<Widget[] | null>(null);
  useDashboardLive();
  const layout = editing ?? widgets.data?.widgets ?? [];
  const shown = new Set(visibleWidgets(layout).map((widget) => widget.type));

  return (
    <div className="page">
      <div className="row-between">
        <div>
          <h1>{t("dash.greeting", { name: me?.name ?? "" })}</h1>
          <p className="muted">{t("dash.lead")}</p>
        </div>
        {!editing && (
          <Button variant="secondary" size="s" disabled={!widgets.data} onClick={() => setEditing(withAvailable(widgets.data?.widgets ?? []))}>
            {t("dash.customize")}
          </Button>
        )}
      </div>
      {editing && <LayoutEditor layout={editing} onChange={setEditing} onDone={() => setEditing(null)} />}
      {home.isError && <EmptyState icon="⚠️" title={errorText(home.error, t)} action={<Button onClick={() => home.refetch()}>{t("app.retry")}</Button>} />}
      {home.data && home.data.failed_sections.length > 0 && <p className="error-text" role="status">{t("dash.partial")}</p>}
      {widgets.isPending || home.isPending ? (
        <div className="widget-grid">{[0, 1, 2, 3].map((index) => <Card key={index} className="widget widget-medium"><Skeleton count={4} /></Card>)}</div>
      ) : (
        <div className="widget-grid">
          {visibleWidgets(layout).map((widget) => (
            <WidgetCard key={widget.id} widget={widget} home={home.data} shown={shown} />
          ))}
        </div>
      )}
    </div>
  );
}

function LayoutEditor({ layout, onChange, onDone }: { layout: Widget[]; onChange: (next: Widget[]) => void; onDone: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const save = useSaveWidgets();
  const finish = (body: { widgets: Widget[] } | { reset: true }) => save.mutate(body, {
    onSuccess: () => { toast(t("dash.saved")); onDone(); },
    onError: (error) => toast(errorText(error, t), "error"),
  });
  return (
    <Card className="stack layout-editor" role="region" aria-label={t("dash.customize")}>
      <h2>{t("dash.customize")}</h2>
      <p className="muted small">{t("dash.customizeHint")}</p>
      <ol className="plain-list stack-s">
        {layout.map((widget, index) => {
          const label = t(`dash.widget.${widget.type}` as MessageKey);
          return (
            <li key={widget.id} className="layout-row">
              <Checkbox label={label} checked={widget.visible} onChange={(event) => onChange(updateWidget(layout, widget.id, { visible: event.target.checked }))} />
              <div className="row layout-controls">
                <SelectField label={t("dash.size")} value={widget.size}
                  onChange={(event) => onChange(updateWidget(layout, widget.id, { size: event.target.value as WidgetSize }))}>
                  {(["small", "medium", "large"] as const).map((size) => <option key={size} value={size}>{t(`dash.size.${size}`)}</option>)}
                </SelectField>
                <Button variant="ghost" size="s" disabled={index === 0} aria-label={t("dash.moveUp", { name: label })}
                  onClick={() => onChange(moveWidget(layout, widget.id, -1))}>↑</Button>
                <Button variant="ghost" size="s" disabled={index === layout.length - 1} aria-label={t("dash.moveDown", { name: label })}
                  onClick={() => onChange(moveWidget(layout, widget.id, 1))}>↓</Button>
              </div>
            </li>
          );
        })}
      </ol>
      <div className="row">
        <Button busy={save.isPending} disabled={!layout.some((widget) => widget.visible)} onClick={() => finish({ widgets: layout })}>{t("dash.save")}</Button>
        <Button variant="secondary" disabled={save.isPending} onClick={() => finish({ reset: true })}>{t("dash.reset")}</Button>
        <Button variant="ghost" onClick={onDone}>{t("app.cancel")}</Button>
      </div>
    </Card>
  );
}

function WidgetCard({ widget, home, shown }: { widget: Widget; home: DashboardHome | undefined; shown: Set<WidgetType> }) {
  const { t } = useI18n();
  const titleId = `widget-${widget.id}`;
  return (
    <Card className={`widget widget-${widget.size}`} role="region" aria-labelledby={titleId} data-testid={`widget-${widget.type}`}>
      <h2 id={titleId} className="widget-title">{t(`dash.widget.${widget.type}` as MessageKey)}</h2>
      <WidgetBody type={widget.type} home={home} shown={shown} />
    </Card>
  );
}

function WidgetBody({ type, home, shown }: { type: WidgetType; home: DashboardHome | undefined; shown: Set<WidgetType> }) {
  switch (type) {
    case "STATISTICS": return <StatisticsWidget home={home} />;
    case "STUDY_LIST": return <StudiesWidget home={home} />;
    case "TASK_LIST": return <TasksWidget enabled={shown.has(type)} />;
    case "NOTIFICATION_LIST": return <UnreadWidget enabled={shown.has(type)} />;
    case "UPCOMING_SCHEDULES": return <UpcomingWidget enabled={shown.has(type)} />;
    case "RECENT_ACTIVITIES": return <ActivitiesWidget enabled={shown.has(type)} />;
    case "TASK_STATISTICS": return <TaskStatsWidget enabled={shown.has(type)} />;
    case "PROGRESS_CHART": return <ProgressWidget enabled={shown.has(type)} />;
  }
}

function Section<T>({ query, empty, children }: { query: { isPending: boolean; isError: boolean; error: unknown; data?: T[] };
  empty: ReactNode; children: (items: T[]) => ReactNode }) {
  const { t } = useI18n();
  if (query.isPending) return <Skeleton count={3} />;
  if (query.isError) return <p className="error-text">{errorText(query.error, t)}</p>;
  if (!query.data?.length) return <>{empty}</>;
  return <>{children(query.data)}</>;
}

function StatisticsWidget({ home }: { home: DashboardHome | undefined }) {
  const { t } = useI18n();
  const stats = home?.stats;
  const attendance = home?.attendance;
  if (!stats) return <p className="muted">{t("dash.sectionFailed")}</p>;
  const tiles: { label: MessageKey; value: string | number; to: string }[] = [
    { label: "dash.stat.activeStudies", value: stats.active_studies, to: "/my-studies" },
    { label: "dash.stat.pendingTasks", value: stats.pending_tasks, to: "/tasks" },
    { label: "dash.stat.unread", value: stats.unread_notifications, to: "/notifications" },
    { label: "dash.stat.completedMonth", value: stats.completed_this_month, to: "/tasks" },
  ];
  return (
    <div className="stack-s">
      <dl className="stat-grid">
        {tiles.map((tile) => (
          <div key={tile.label} className="stat">
            <dt>{t(tile.label)}</dt>
            <dd><Link to={tile.to}>{tile.value}</Link></dd>
          </div>
        ))}
      </dl>
      {attendance && (
        <p className="muted small">{t("dash.attendance", { done: attendance.checked_in_today, total: attendance.total_studies })}</p>
      )}
    </div>
  );
}

function StudiesWidget({ home }: { home: DashboardHome | undefined }) {
  const { t } = useI18n();
  const studies = home?.my_studies;
  if (!studies) return <p className="muted">{t("dash.sectionFailed")}</p>;
  if (!studies.length) {
    return <div className="stack-s"><p className="muted">{t("dash.noStudies")}</p><Link className="btn btn-secondary btn-s" to="/studies">{t("nav.explore")}</Link></div>;
  }
  return (
    <div className="stack-s">
      <ul className="plain-list widget-list">
        {studies.map((study) => (
          <li key={study.id}>
            <Link to={`/studies/${study.id}/room`} className="widget-link">
              <span aria-hidden="true">{study.emoji}</span>
              <span className="grow ellipsis">{study.name}</span>
              <Badge tone={study.role === "MEMBER" ? "neutral" : "primary"}>{t(`role.${study.role}` as MessageKey)}</Badge>
            </Link>
          </li>
        ))}
      </ul>
      <Link to="/my-studies" className="small">{t("dash.allStudies")}</Link>
    </div>
  );
}

function TasksWidget({ enabled }: { enabled: boolean }) {
  const { t } = useI18n();
  const tasks = useOpenTasks(enabled);
  return (
    <div className="stack-s">
      <Section query={tasks} empty={<p className="muted">{t("dash.noTasks")}</p>}>
        {(items) => (
          <ul className="plain-list widget-list">
            {items.map((task) => (
              <li key={task.id} className="widget-item">
                <span className="grow ellipsis">{task.title}</span>
                {task.due_date && <span className="muted small">{task.due_date}</span>}
                <Badge tone={task.priority === "URGENT" || task.priority === "HIGH" ? "danger" : "neutral"}>{t(`pages.priority.${task.priority}` as MessageKey)}</Badge>
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Link to="/tasks" className="small">{t("dash.allTasks")}</Link>
    </div>
  );
}

function UnreadWidget({ enabled }: { enabled: boolean }) {
  const { t } = useI18n();
  const unread = useUnreadNotifications(enabled);
  return (
    <div className="stack-s">
      <Section query={unread} empty={<p className="muted">{t("notif.empty")}</p>}>
        {(items) => (
          <ul className="plain-list widget-list">
            {items.map((item) => (
              <li key={item.id} className="widget-item"><span aria-hidden="true">{item.study_emoji ?? "🔔"}</span><span className="grow">{item.message}</span></li>
            ))}
          </ul>
        )}
      </Section>
      <Link to="/notifications" className="small">{t("notifs.seeAll")}</Link>
    </div>
  );
}

function UpcomingWidget({ enabled }: { enabled: boolean }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const upcoming = useUpcoming(enabled);
  const query = { ...upcoming, data: upcoming.data?.events };
  return (
    <Section query={query} empty={<p className="muted">{t("dash.noEvents")}</p>}>
      {(events) => (
        <ul className="plain-list widget-list">
          {events.map((event) => (
            <li key={event.id}>
              <Link to={`/studies/${event.study.id}/room/calendar`} className="widget-link">
                <span aria-hidden="true">{event.study.emoji}</span>
                <span className="grow">
                  <span className="block ellipsis">{event.title}</span>
                  <span className="muted small">{formatDateTime(event.starts_at, language, timeZone)} · {event.study.name}</span>
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function ActivitiesWidget({ enabled }: { enabled: boolean }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const activities = useRecentActivities(enabled);
  return (
    <Section query={activities} empty={<p className="muted">{t("dash.noActivity")}</p>}>
      {(items) => (
        <ul className="plain-list widget-list">
          {items.map((item) => (
            <li key={item.id} className="widget-item">
              <span aria-hidden="true">{item.study?.emoji ?? "•"}</span>
              <span className="grow">
                <span className="block">{item.message}</span>
                <span className="muted small">{formatDateTime(item.created_at, language, timeZone)}</span>
              </span>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function TaskStatsWidget({ enabled }: { enabled: boolean }) {
  const { t } = useI18n();
  const stats = useTaskStats(enabled);
  if (stats.isPending) return <Skeleton count={3} />;
  if (stats.isError) return <p className="error-text">{errorText(stats.error, t)}</p>;
  const { summary, timeline } = stats.data;
  return (
    <div className="stack-s">
      <p>{t("dash.completionRate", { rate: summary.completion_rate })}</p>
      <progress className="progress" max={100} value={summary.completion_rate} aria-label={t("dash.completionRate", { rate: summary.completion_rate })} />
      <p className="muted small">{t("dash.taskTimeline", { today: timeline.today, week: timeline.this_week, overdue: timeline.overdue })}</p>
    </div>
  );
}

function ProgressWidget({ enabled }: { enabled: boolean }) {
  const { t } = useI18n();
  const stats = useActivityStats(enabled);
  if (stats.isPending) return <Skeleton count={3} />;
  if (stats.isError) return <p className="error-text">{errorText(stats.error, t)}</p>;
  const series = stats.data.series;
  const total = (point: (typeof series)[number]) => point.messages_sent + point.tasks_completed + point.check_ins;
  const max = Math.max(1, ...series.map(total));
  return (
    <ul className="plain-list bars" aria-label={t("dash.widget.PROGRESS_CHART")}>
      {series.map((point) => (
        <li key={point.bucket} className="bar-col">
          <span className="bar" style={{ height: `${Math.round((total(point) / max) * 100)}%` }} aria-hidden="true" />
          <span className="small muted">{point.bucket.slice(5)}</span>
          <span className="visually-hidden">{t("dash.barLabel", { messages: point.messages_sent, tasks: point.tasks_completed, checkIns: point.check_ins })}</span>
        </li>
      ))}
    </ul>
  );
}
