import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { Badge, Button, Card, EmptyState, Skeleton, Tabs } from "../../components/ui";
import { api, type OffsetPagination } from "../../lib/api-client";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { MemberRole, MemberStatus, StudySummary } from "../../lib/types";

type Filter = "all" | "active" | "admin" | "pending";
interface MyStudy {
  membership_id: string; role: MemberRole; status: MemberStatus;
  study: StudySummary & { unread_messages: number | null; new_notices: number | null };
}

export function MyStudiesPage() {
  const { t } = useI18n();
  const [filter, setFilter] = useState<Filter>("all");
  const query = useQuery({
    queryKey: ["my-studies", filter],
    queryFn: async () => (await api.get<MyStudy[], OffsetPagination>("/api/my-studies", { filter, limit: 50 })).data,
  });
  const tabs: { key: Filter; label: string }[] = [
    { key: "all", label: t("my.tabAll") }, { key: "active", label: t("my.tabActive") },
    { key: "admin", label: t("my.tabAdmin") }, { key: "pending", label: t("my.tabPending") },
  ];
  return (
    <div className="page">
      <div className="row-between"><h1>{t("my.title")}</h1><Link className="btn btn-primary" to="/studies/new">{t("studies.create")}</Link></div>
      <Tabs label={t("my.title")} items={tabs} selected={filter} onSelect={setFilter} controls="my-studies-panel" />
      <div id="my-studies-panel" role="tabpanel" className="tab-panel">
        {query.isPending ? <Skeleton height={72} count={3} /> : query.isError ? (
          <EmptyState icon="⚠️" title={errorText(query.error, t)} action={<Button onClick={() => query.refetch()}>{t("app.retry")}</Button>} />
        ) : query.data.length === 0 ? (
          <EmptyState icon="🌱" title={t("my.emptyTitle")} body={t("my.emptyBody")}
            action={<Link className="btn btn-primary" to="/studies">{t("nav.explore")}</Link>} />
        ) : (
          <ul className="plain-list stack-s">
            {query.data.map((item) => (
              <li key={item.membership_id}>
                <Link className="card-link" to={item.status === "ACTIVE" ? `/studies/${item.study.id}/room` : `/studies/${item.study.id}`}>
                  <Card className="row my-study">
                    <span className="study-emoji" aria-hidden="true">{item.study.emoji}</span>
                    <div className="grow">
                      <h2 className="study-name">{item.study.name}</h2>
                      <div className="row">
                        <Badge tone={item.status === "PENDING" ? "warning" : "primary"}>
                          {t(item.status === "PENDING" ? "status.PENDING" : (`role.${item.role}` as MessageKey))}
                        </Badge>
                        {item.study.new_notices ? <Badge>{t("my.newNotices", { count: item.study.new_notices })}</Badge> : null}
                      </div>
                    </div>
                    {item.study.unread_messages ? (
                      <span className="unread-pill" aria-label={t("my.unread", { count: item.study.unread_messages })}>
                        {item.study.unread_messages > 99 ? "99+" : item.study.unread_messages}
                      </span>
                    ) : null}
                  </Card>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
