import { useEffect } from "react";
import { Link, NavLink, useNavigate, useParams } from "react-router";
import { Card, EmptyState, Skeleton, useToast } from "../components/ui";
import { ChatPanel } from "../features/chat/ChatPanel";
import { useStudy, useStudyLive } from "../features/studies/api";
import { errorText } from "../lib/errors";
import { useI18n } from "../lib/i18n";
import { useRealtime, useRealtimeValue } from "../lib/realtime";
import { useSession } from "../lib/session";
import type { RealtimeUser } from "../realtime";

const NOBODY: RealtimeUser[] = [];
const REMOVED_TEXT = { left: "room.removedLeft", kicked: "room.removedKicked", deleted: "room.removedDeleted" } as const;

/** The study room: the study's header, its tabs (chat for now) and the live room. */
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
      </div>
      <nav className="tabs" aria-label={t("room.tabs")}>
        <NavLink className="tab" to={`/studies/${studyId}/room`} end>{t("room.chat")}</NavLink>
        <NavLink className="tab" to={`/studies/${studyId}`}>{t("room.info")}</NavLink>
      </nav>
      <ChatPanel studyId={studyId} myId={me.id} />
    </div>
  );
}
