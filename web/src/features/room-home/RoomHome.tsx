import { useQuery } from "@tanstack/react-query";
import { useId, type ReactNode } from "react";
import { Link } from "react-router";
import { Avatar, Badge, Card, Skeleton } from "../../components/ui";
import { api } from "../../lib/api-client";
import { useTimeZone } from "../../lib/config";
import { dayKey, formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Study, UserSummary } from "../../lib/types";

// The room's dashboard reads the same endpoints as the tabs, under the tabs' key prefixes
// (["notices", id], ["files", id], …), so the room's live invalidation refreshes it too.
interface NoticeRow { id: string; title: string; is_pinned: boolean; is_important: boolean; created_at: string; author: UserSummary }
interface FileRow { id: string; name: string; size: number; url: string; created_at: string; uploader: UserSummary }
interface EventRow { id: string; title: string; date: string; start_time: string; end_time: string; color: string; location: string | null }
interface TaskRow { id: string; title: string; status: string; priority: string; due_date: string | null }
interface Attendance { checked_in_count: number; member_count: number; checked_in: { user: UserSummary }[]; me: { checked_in_today: boolean; current_streak: number } }

const HOME_POLL_MS = 15_000; // attendance has no room event

function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

export function RoomHome({ study }: { study: Study; myId: string }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const id = study.id;
  const today = dayKey(new Date().toISOString(), timeZone);
  const base = `/studies/${id}/room`;
  const notices = useQuery({ queryKey: ["notices", id, "home"],
    queryFn: async () => (await api.get<NoticeRow[]>(`/api/studies/${id}/notices`, { limit: 3 })).data });
  const files = useQuery({ queryKey: ["files", id, "home"],
    queryFn: async () => (await api.get<FileRow[]>(`/api/studies/${id}/files`, { folder: "*", limit: 4 })).data });
  const events = useQuery({ queryKey: ["calendar", id, "home", today],
    queryFn: async () => (await api.get<EventRow[]>(`/api/studies/${id}/calendar`, { start_date: today, end_date: addDays(today, 30) })).data });
  const tasks = useQuery({ queryKey: ["tasks", id, "home"],
    queryFn: async () => (await api.get<TaskRow[]>(`/api/studies/${id}/tasks`, { assignee: "me", limit: 50 })).data });
  const attendance = useQuery({ queryKey: ["attendance", id, "home", today], refetchInterval: HOME_POLL_MS,
    queryFn: async () => (await api.get<Attendance>(`/api/studies/${id}/attendance`, { date: today })).data });

  const nowTime = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date());
  const upcoming = (events.data ?? []).filter((e) => e.date > today || e.end_time > nowTime).slice(0, 3);
  const openTasks = (tasks.data ?? []).filter((task) => task.status !== "DONE" && task.status !== "CANCELLED").slice(0, 5);

  return (
    <div className="home-grid">
      <Widget title={t("home.attendance")} to={`${base}/attendance`} query={attendance}>
        {attendance.data && (
          <div className="stack-s">
            <div className="home-big">
              <strong>{attendance.data.checked_in_count}</strong><span className="muted">/ {attendance.data.member_count}</span>
            </div>
            <p className="small">{attendance.data.me.checked_in_today
              ? `✅ ${t("home.checkedIn", { streak: attendance.data.me.current_streak })}` : t("home.notCheckedIn")}</p>
            <div className="avatars">
              {attendance.data.checked_in.slice(0, 8).map((row) => <Avatar key={row.user.id} name={row.user.name} src={row.user.avatar} size={28} />)}
            </div>
          </div>
        )}
      </Widget>
      <Widget title={t("home.schedule")} to={`${base}/calendar`} query={events} empty={upcoming.length === 0 ? t("home.noSchedule") : null}>
        <ul className="plain-list stack-s">
          {upcoming.map((event) => (
            <li key={event.id} className="home-event" style={{ borderLeftColor: event.color }}>
              <strong className="ellipsis">{event.title}</strong>
              <span className="small muted">{event.date === today ? t("home.today") : event.date} {event.start_time}–{event.end_time}{event.location ? ` · ${event.location}` : ""}</span>
            </li>
          ))}
        </ul>
      </Widget>
      <Widget title={t("home.notices")} to={`${base}/notices`} query={notices} empty={notices.data?.length === 0 ? t("notices.emptyTitle") : null}>
        <ul className="plain-list stack-s">
          {(notices.data ?? []).map((notice) => (
            <li key={notice.id}>
              <Link to={`${base}/notices/${notice.id}`} className="home-link">
                {notice.is_pinned && <span aria-label={t("notices.pinned")}>📌 </span>}
                {notice.is_important && <Badge tone="danger">{t("notices.important")}</Badge>} {notice.title}
              </Link>
              <div className="small muted">{notice.author.name} · {formatDateTime(notice.created_at, language, timeZone)}</div>
            </li>
          ))}
        </ul>
      </Widget>
      <Widget title={t("home.tasks")} to={`${base}/tasks`} query={tasks} empty={openTasks.length === 0 ? t("home.noTasks") : null}>
        <ul className="plain-list stack-s">
          {openTasks.map((task) => (
            <li key={task.id} className="row-between">
              <span className="ellipsis grow">{task.title}</span>
              <Badge>{t(`tasks.status.${task.status}` as MessageKey)}</Badge>
            </li>
          ))}
        </ul>
      </Widget>
      <Widget title={t("home.files")} to={`${base}/files`} query={files} empty={files.data?.length === 0 ? t("files.emptyTitle") : null}>
        <ul className="plain-list stack-s">
          {(files.data ?? []).map((file) => (
            <li key={file.id}>
              <a href={file.url} download={file.name} className="home-link ellipsis">📎 {file.name}</a>
              <div className="small muted">{file.uploader.name} · {formatDateTime(file.created_at, language, timeZone)}</div>
            </li>
          ))}
        </ul>
      </Widget>
    </div>
  );
}

function Widget({ title, to, query, empty, children }: {
  title: string; to: string; query: { isPending: boolean; isError: boolean; error: unknown }; empty?: string | null; children: ReactNode;
}) {
  const { t } = useI18n();
  const id = useId();
  return (
    <Card className="widget" role="region" aria-labelledby={id}>
      <div className="row-between widget-head">
        <h2 id={id}>{title}</h2>
        <Link to={to} className="small" aria-label={`${title}: ${t("home.more")}`}>{t("home.more")}</Link>
      </div>
      {query.isPending ? <Skeleton count={3} /> : query.isError ? <p className="error-text small">{errorText(query.error, t)}</p>
        : empty ? <p className="muted small">{empty}</p> : children}
    </Card>
  );
}
