import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, type ReactNode } from "react";
import { Link, Navigate, NavLink, Route, Routes, useLocation, useNavigate, useParams } from "react-router";
import { Card, EmptyState, Skeleton, useToast } from "../components/ui";
import { AttendancePanel } from "../features/attendance/AttendancePanel";
import { attendanceKeys } from "../features/attendance/api";
import { CalendarPanel } from "../features/calendar/CalendarPanel";
import { calendarKeys } from "../features/calendar/api";
import { ChatPanel } from "../features/chat/ChatPanel";
import { FilesPanel } from "../features/files/FilesPanel";
import { fileKeys } from "../features/files/api";
import { MembersPanel } from "../features/members/MembersPanel";
import { memberKeys } from "../features/members/api";
import { NoticesPanel } from "../features/notices/NoticesPanel";
import { noticeKeys } from "../features/notices/api";
import { RoomHome } from "../features/room-home/RoomHome";
import { SettingsPanel } from "../features/study-settings/SettingsPanel";
import { useStudy, useStudyLive } from "../features/studies/api";
import { TasksBoard } from "../features/tasks/TasksBoard";
import { VideoCallPanel } from "../features/video-call/VideoCallPanel";
import { taskKeys } from "../features/tasks/api";
import { errorText } from "../lib/errors";
import { useI18n, type MessageKey } from "../lib/i18n";
import { useRealtime, useRealtimeValue } from "../lib/realtime";
import { useSession } from "../lib/session";
import type { RealtimeUser } from "../realtime";
import "../styles/room.css";

const NOBODY: RealtimeUser[] = [];
const REMOVED_TEXT = { left: "room.removedLeft", kicked: "room.removedKicked", deleted: "room.removedDeleted" } as const;

/** Which cached queries a durable room event touches (PROTOCOL §4; COUP.md §9.2). */
const EVENT_KEYS: [prefix: string, key: (studyId: string) => readonly unknown[]][] = [
  ["notice:", noticeKeys.all],
  ["file:", fileKeys.all],
  ["event:", calendarKeys.all],
  ["task:", taskKeys.all],
  ["study:member-", memberKeys.all],
  // A member joining or leaving changes today's attendance head count.
  ["study:member-", attendanceKeys.all],
];

type TabKey = "home" | "chat" | "call" | "notices" | "files" | "calendar" | "tasks" | "attendance" | "members" | "settings";
const TABS: { key: TabKey; path: string; icon: string }[] = [
  { key: "home", path: "home", icon: "🏠" },
  { key: "chat", path: "", icon: "💬" },
  { key: "call", path: "call", icon: "🎥" },
  { key: "notices", path: "notices", icon: "📢" },
  { key: "files", path: "files", icon: "📁" },
  { key: "calendar", path: "calendar", icon: "📅" },
  { key: "tasks", path: "tasks", icon: "✅" },
  { key: "attendance", path: "attendance", icon: "🙋" },
  { key: "members", path: "members", icon: "👥" },
  { key: "settings", path: "settings", icon: "⚙️" },
];

/** Keep every tab's queries fresh: each durable room event invalidates the queries it touches. */
function useRoomLive(studyId: string, enabled: boolean) {
  const client = useRealtime();
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!client || !enabled) return;
    const offs = [
      client.on("studyEvent", (event) => {
        if (event.studyId !== studyId) return;
        for (const [prefix, key] of EVENT_KEYS) {
          if (event.event.startsWith(prefix)) queryClient.invalidateQueries({ queryKey: key(studyId) });
        }
      }),
      // After a gap the server could not replay, nothing cached about the room can be trusted.
      client.on("resync", (event) => {
        if (event.studyId !== studyId) return;
        for (const [, key] of EVENT_KEYS) queryClient.invalidateQueries({ queryKey: key(studyId) });
      }),
    ];
    const release = client.subscribe(studyId);
    return () => { offs.forEach((off) => off()); release(); };
  }, [client, queryClient, studyId, enabled]);
}

/** The study room: the study's header, its tabs (each its own route) and the live room. */
export function StudyRoomPage() {
  const { studyId = "" } = useParams();
  const { t } = useI18n();
  const me = useSession().data!;
  const study = useStudy(studyId);
  const client = useRealtime();
  const navigate = useNavigate();
  const toast = useToast();
  const online = useRealtimeValue<RealtimeUser[]>("presence", (c) => c.online(studyId), NOBODY);
  const isMember = study.data?.my_status === "ACTIVE";
  useStudyLive(studyId, isMember);
  useRoomLive(studyId, isMember);
  const tabsRef = useRef<HTMLElement>(null);
  const { pathname } = useLocation();
  // On a phone the tab strip scrolls; keep the current tab in view.
  useEffect(() => {
    tabsRef.current?.querySelector('[aria-current="page"]')?.scrollIntoView({ block: "nearest", inline: "nearest" });
  }, [pathname, isMember]);

  useEffect(() => {
    if (!client) return;
    const offs = [
      client.on("removed", (event) => {
        if (event.studyId !== studyId || !(event.reason in REMOVED_TEXT)) return;
        toast(t(REMOVED_TEXT[event.reason as keyof typeof REMOVED_TEXT]), "error");
        navigate(event.reason === "deleted" ? "/my-studies" : `/studies/${studyId}`, { replace: true });
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [client, studyId, navigate, toast, t]);

  if (study.isPending) return <div className="page"><Card><Skeleton count={8} /></Card></div>;
  if (study.isError) return <div className="page"><EmptyState icon="🔒" title={errorText(study.error, t)} /></div>;
  if (!isMember) {
    return <div className="page"><EmptyState icon="🔒" title={t("room.notMember")}
      action={<Link className="btn btn-primary" to={`/studies/${studyId}`}>{t("detail.apply")}</Link>} /></div>;
  }
  const s = study.data;
  const isAdmin = s.my_role === "OWNER" || s.my_role === "ADMIN";
  const base = `/studies/${studyId}/room`;
  const tabs = TABS.filter((tab) => tab.key !== "settings" || isAdmin);
  return (
    <div className="room">
      <div className="row-between">
        <div className="room-head">
          <span className="study-emoji" aria-hidden="true">{s.emoji}</span>
          <div className="grow">
            <h1 className="ellipsis">{s.name}</h1>
            <span className="online-dots"><span className="online-dot" aria-hidden="true" />{t("room.online", { count: online.length })}</span>
          </div>
        </div>
        <Link className="btn btn-ghost btn-s room-info-link" to={`/studies/${studyId}`}>{t("room.info")}</Link>
      </div>
      <nav ref={tabsRef} className="tabs room-tabs" aria-label={t("room.tabs")}>
        {tabs.map((tab) => (
          <NavLink key={tab.key} className="tab" to={tab.path ? `${base}/${tab.path}` : base} end>
            <span aria-hidden="true">{tab.icon}</span>{t(`roomTab.${tab.key}` as MessageKey)}
          </NavLink>
        ))}
      </nav>
      <Routes>
        <Route index element={<ChatPanel studyId={studyId} myId={me.id} canModerate={isAdmin} />} />
        <Route path="call" element={<VideoCallPanel studyId={studyId} me={me} />} />
        <Route path="home" element={<Scroll><RoomHome study={s} myId={me.id} /></Scroll>} />
        <Route path="notices" element={<Scroll><NoticesPanel study={s} myId={me.id} /></Scroll>} />
        <Route path="notices/:noticeId" element={<Scroll><NoticesPanel study={s} myId={me.id} /></Scroll>} />
        <Route path="files" element={<Scroll><FilesPanel study={s} myId={me.id} /></Scroll>} />
        <Route path="calendar" element={<Scroll><CalendarPanel study={s} myId={me.id} /></Scroll>} />
        <Route path="tasks" element={<Scroll><TasksBoard study={s} myId={me.id} /></Scroll>} />
        <Route path="attendance" element={<Scroll><AttendancePanel study={s} myId={me.id} /></Scroll>} />
        <Route path="members" element={<Scroll><MembersPanel study={s} myId={me.id} /></Scroll>} />
        <Route path="settings" element={isAdmin ? <Scroll><SettingsPanel study={s} /></Scroll> : <Navigate to={base} replace />} />
        <Route path="*" element={<Navigate to={base} replace />} />
      </Routes>
    </div>
  );
}

function Scroll({ children }: { children: ReactNode }) {
  return <div className="room-panel">{children}</div>;
}
