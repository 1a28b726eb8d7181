import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, useNavigate, useParams, useSearchParams } from "react-router";
import { Badge, Button, Card, EmptyState, Skeleton, useToast } from "../../components/ui";
import { api } from "../../lib/api-client";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { useSession } from "../../lib/session";
import type { StudySummary } from "../../lib/types";
import "../../styles/pages.css";

interface InvitePreview { study: StudySummary; invite: { expires_at: string; available_slots: number } }

/** `/join/:code`: preview the study, then join; a signed-out person signs in first and comes back. */
export function JoinByInvitePage() {
  const { code = "" } = useParams();
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const session = useSession();
  const preview = useQuery({
    queryKey: ["invite", code],
    queryFn: async () => (await api.get<InvitePreview>(`/api/studies/join/${encodeURIComponent(code)}`)).data,
  });
  const join = useMutation({
    mutationFn: (studyId: string) => api.post(`/api/studies/${studyId}/join`, { invite_code: code }),
    onSuccess: (_, studyId) => {
      queryClient.invalidateQueries({ queryKey: ["my-studies"] });
      queryClient.invalidateQueries({ queryKey: ["study", studyId] });
      toast(t("invite.joined"));
      navigate(`/studies/${studyId}/room`);
    },
  });

  if (preview.isPending) return <div className="page page-narrow"><Card><Skeleton count={5} /></Card></div>;
  if (preview.isError) {
    return <div className="page"><EmptyState icon="🎟️" title={errorText(preview.error, t)} body={t("invite.askAgain")}
      action={<Link className="btn btn-secondary" to="/studies">{t("nav.explore")}</Link>} /></div>;
  }
  const { study, invite } = preview.data;
  const here = `/join/${encodeURIComponent(code)}`;
  const member = study.my_status === "ACTIVE";
  return (
    <div className="page page-narrow">
      <Card className="stack">
        <p className="muted small">{t("invite.lead")}</p>
        <div className="detail-hero">
          <span className="study-emoji" aria-hidden="true">{study.emoji}</span>
          <div className="stack-s">
            <h1>{study.name}</h1>
            <div className="row row-tight">
              <Badge tone="primary">{study.category}</Badge>
              {!study.is_public && <Badge tone="warning">{t("studies.private")}</Badge>}
            </div>
            <p className="muted small">{t("studies.members", { current: study.current_members, max: study.max_members })} · {t("studies.owner", { name: study.owner.name })}</p>
          </div>
        </div>
        <p className="pre-line">{study.description}</p>
        <p className="muted small">{t("invite.validity", { time: formatDateTime(invite.expires_at, language, timeZone), slots: invite.available_slots })}</p>
        {join.error && <p className="error-text" role="alert">{errorText(join.error, t)}</p>}
        {session.isPending ? <Skeleton height={44} /> : !session.data ? (
          <div className="stack-s">
            <Link className="btn btn-primary btn-block" to={`/sign-in?next=${encodeURIComponent(here)}`}>{t("invite.signInToJoin")}</Link>
            <Link className="btn btn-secondary btn-block" to={`/sign-up?next=${encodeURIComponent(here)}`}>{t("invite.signUpToJoin")}</Link>
          </div>
        ) : member ? (
          <Link className="btn btn-primary btn-block" to={`/studies/${study.id}/room`}>{t("detail.enterRoom")}</Link>
        ) : (
          <Button block busy={join.isPending} onClick={() => join.mutate(study.id)}>{t("invite.join")}</Button>
        )}
      </Card>
    </div>
  );
}

/** The server's invite URL is `/studies/{id}/join?code=…` (COUP.md §6 Invite); it is the same page. */
export function StudyInviteRedirect() {
  const [params] = useSearchParams();
  const { studyId = "" } = useParams();
  const code = params.get("code");
  return <Navigate to={code ? `/join/${encodeURIComponent(code)}` : `/studies/${studyId}`} replace />;
}
