import type { ReactNode } from "react";
import { Link, useParams } from "react-router";
import { Avatar, Badge, Button, Card, EmptyState, Skeleton, useConfirm, useToast } from "../../components/ui";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useSession } from "../../lib/session";
import type { Study } from "../../lib/types";
import { useLeave, useStudy, useStudyLive } from "./api";
import { ApplyForm } from "./ApplyForm";
import { useCategoryLabel } from "./category-label";

interface StudyDetailSlots {
  /** The app's report button for the study (features/reports), shown to signed-in non-owners. */
  reportAction?: (study: { id: string; name: string }) => ReactNode;
  /** The app's join-request review (features/members), shown to the study's admins. */
  joinRequests?: (study: Study) => ReactNode;
}

export function StudyDetailPage({ reportAction, joinRequests }: StudyDetailSlots = {}) {
  const { studyId = "" } = useParams();
  const { t } = useI18n();
  const study = useStudy(studyId);
  const me = useSession().data;
  const categoryLabel = useCategoryLabel();
  const isMember = study.data?.my_status === "ACTIVE";
  useStudyLive(studyId, Boolean(me && isMember));

  if (study.isPending) return <div className="page"><Card><Skeleton count={6} /></Card></div>;
  if (study.isError) {
    return <div className="page"><EmptyState icon="🔒" title={errorText(study.error, t)}
      action={<Link className="btn btn-secondary" to="/studies">{t("nav.explore")}</Link>} /></div>;
  }
  const s = study.data;
  const isAdmin = s.my_role === "OWNER" || s.my_role === "ADMIN";
  return (
    <div className="page">
      <div className="detail-grid">
        <div className="stack">
          <Card>
            <div className="detail-hero">
              <span className="study-emoji" aria-hidden="true">{s.emoji}</span>
              <div className="stack-s">
                <h1>{s.name}</h1>
                <div className="row">
                  <Badge tone="primary">{categoryLabel(s.category)}</Badge>
                  {s.sub_category && <Badge>{s.sub_category}</Badge>}
                  <Badge tone={s.recruiting_state === "recruiting" ? "success" : "neutral"}>
                    {t(s.recruiting_state === "recruiting" ? "studies.recruitingOpen" : "studies.recruitingClosed")}
                  </Badge>
                  {!s.is_public && <Badge tone="warning">{t("studies.private")}</Badge>}
                  {s.auto_approve && <Badge>{t("studies.autoApprove")}</Badge>}
                </div>
                <p className="muted">{t("studies.members", { current: s.current_members, max: s.max_members })} · {t("studies.owner", { name: s.owner.name })}</p>
              </div>
            </div>
          </Card>
          <Card>
            <h2>{t("detail.about")}</h2>
            <p className="pre-line">{s.description}</p>
            {s.tags.length > 0 && (
              <ul className="tag-list" aria-label={t("detail.tags")}>{s.tags.map((tag) => <li key={tag}><Badge>#{tag}</Badge></li>)}</ul>
            )}
            {me && s.my_role !== "OWNER" && reportAction && <div className="row-between">{reportAction({ id: s.id, name: s.name })}</div>}
          </Card>
          {isAdmin && joinRequests?.(s)}
        </div>
        <div className="stack">
          <MembershipPanel study={s} signedIn={Boolean(me)} />
          {s.members.length > 0 && (
            <Card>
              <h2>{t("detail.membersTitle", { count: s.current_members })}</h2>
              <ul className="member-list">
                {s.members.map((member) => (
                  <li key={member.user_id}>
                    <Avatar name={member.user.name} src={member.user.avatar} size={32} />
                    <span className="ellipsis">{member.user.name}</span>
                    {member.role !== "MEMBER" && <Badge tone="primary">{t(`role.${member.role}` as MessageKey)}</Badge>}
                  </li>
                ))}
              </ul>
            </Card>
          )}
        </div>
      </div>
    </div>
  );
}

function MembershipPanel({ study, signedIn }: { study: Study; signedIn: boolean }) {
  const { t } = useI18n();
  const confirm = useConfirm();
  const toast = useToast();
  const leave = useLeave(study.id);
  const onLeave = async (pending: boolean) => {
    if (!(await confirm(t(pending ? "detail.withdrawConfirm" : "detail.leaveConfirm"), { danger: true }))) return;
    leave.mutate(undefined, { onError: (error) => toast(errorText(error, t), "error") });
  };
  if (!signedIn) {
    return <Card><Link className="btn btn-primary btn-block" to={`/sign-in?next=/studies/${study.id}`}>{t("detail.signInToApply")}</Link></Card>;
  }
  if (study.my_status === "ACTIVE") {
    return (
      <Card className="stack">
        <p><strong>{t("detail.member")}</strong></p>
        <Link className="btn btn-primary btn-block" to={`/studies/${study.id}/room`}>{t("detail.enterRoom")}</Link>
        {study.my_role !== "OWNER" && <Button variant="ghost" onClick={() => onLeave(false)} busy={leave.isPending}>{t("detail.leave")}</Button>}
      </Card>
    );
  }
  if (study.my_status === "PENDING") {
    return (
      <Card className="stack" role="status">
        <p><Badge tone="warning">{t("detail.pending")}</Badge></p>
        <p className="muted">{t("detail.pendingBody")}</p>
        <Button variant="secondary" onClick={() => onLeave(true)} busy={leave.isPending}>{t("detail.withdraw")}</Button>
      </Card>
    );
  }
  if (study.my_status === "KICKED") return <Card><p>{t("detail.kicked")}</p></Card>;
  if (study.current_members >= study.max_members) return <Card><p>{t("detail.full")}</p></Card>;
  if (!study.is_recruiting) return <Card><p>{t("detail.notRecruiting")}</p></Card>;
  return <ApplyForm study={study} />;
}
