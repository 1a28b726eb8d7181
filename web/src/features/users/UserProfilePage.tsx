import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useParams } from "react-router";
import { Avatar, Badge, Button, Card, EmptyState, Skeleton } from "../../components/ui";
import { api } from "../../lib/api-client";
import { useTimeZone } from "../../lib/config";
import { formatDay } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useSession } from "../../lib/session";
import type { UserSummary } from "../../lib/types";
import "../../styles/pages.css";

interface PublicProfile extends UserSummary {
  bio: string | null; created_at: string;
  stats: { study_count: number; task_count: number; message_count: number; notice_count: number };
  recent_studies: { study_id: string; study_name: string; study_emoji: string; category: string; role: string; joined_at: string }[];
}

/** Someone's public profile (COUP.md §7.2); `reportAction` is the app's report button, if any. */
export function UserProfilePage({ reportAction }: { reportAction?: (user: UserSummary) => ReactNode }) {
  const { userId = "" } = useParams();
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const me = useSession().data;
  const profile = useQuery({ queryKey: ["user", userId], queryFn: async () => (await api.get<PublicProfile>(`/api/users/${userId}`)).data });
  if (profile.isPending) return <div className="page page-medium"><Card><Skeleton count={5} /></Card></div>;
  if (profile.isError) {
    return <div className="page"><EmptyState icon="👤" title={errorText(profile.error, t)}
      action={<Button variant="secondary" onClick={() => history.back()}>{t("app.back")}</Button>} /></div>;
  }
  const user = profile.data;
  const stats: { key: MessageKey; value: number }[] = [
    { key: "users.stat.studies", value: user.stats.study_count }, { key: "users.stat.messages", value: user.stats.message_count },
    { key: "users.stat.notices", value: user.stats.notice_count }, { key: "users.stat.tasks", value: user.stats.task_count },
  ];
  return (
    <div className="page page-medium stack">
      <Card className="profile-hero">
        <Avatar name={user.name} src={user.avatar} size={88} />
        <div className="grow stack-s">
          <h1>{user.name}</h1>
          {user.bio ? <p className="pre-line">{user.bio}</p> : <p className="muted">{t("users.noBio")}</p>}
          <p className="muted small">{t("users.since", { date: formatDay(user.created_at, language, timeZone) })}</p>
          <div className="row">
            {me?.id === user.id ? <Link className="btn btn-secondary btn-s" to="/me">{t("users.editMine")}</Link> : reportAction?.(user)}
          </div>
        </div>
      </Card>
      <Card>
        <h2>{t("users.activity")}</h2>
        <dl className="stat-grid stat-grid-wide">
          {stats.map((stat) => <div key={stat.key} className="stat"><dt>{t(stat.key)}</dt><dd>{stat.value}</dd></div>)}
        </dl>
      </Card>
      <Card>
        <h2>{t("users.studies")}</h2>
        {user.recent_studies.length === 0 ? <p className="muted">{t("users.noStudies")}</p> : (
          <ul className="plain-list widget-list">
            {user.recent_studies.map((study) => (
              <li key={study.study_id}>
                <Link to={`/studies/${study.study_id}`} className="widget-link">
                  <span aria-hidden="true">{study.study_emoji}</span>
                  <span className="grow ellipsis">{study.study_name}</span>
                  <Badge>{t(`role.${study.role}` as MessageKey)}</Badge>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
