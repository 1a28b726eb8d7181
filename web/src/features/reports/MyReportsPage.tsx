import { Badge, Button, Card, EmptyState, Skeleton } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useMyReports, type MyReport } from "./api";
import "../../styles/pages.css";

const STATUS_TONE: Record<MyReport["status"], "warning" | "primary" | "success" | "neutral"> = {
  PENDING: "warning", IN_PROGRESS: "primary", RESOLVED: "success", REJECTED: "neutral",
};

export function MyReportsPage() {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const reports = useMyReports();
  const items = reports.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <div className="page page-medium">
      <h1>{t("reports.mineTitle")}</h1>
      <p className="muted">{t("reports.mineLead")}</p>
      {reports.isPending ? <Skeleton height={64} count={3} /> : reports.isError ? (
        <EmptyState icon="⚠️" title={errorText(reports.error, t)} action={<Button onClick={() => reports.refetch()}>{t("app.retry")}</Button>} />
      ) : items.length === 0 ? (
        <EmptyState icon="🛡️" title={t("reports.emptyTitle")} body={t("reports.emptyBody")} />
      ) : (
        <ul className="plain-list stack-s">
          {items.map((report) => (
            <li key={report.id}>
              <Card className="row-between">
                <div className="grow">
                  <p className="task-title">{report.target_name ?? report.target_id}</p>
                  <p className="muted small">
                    {t(`reports.targetType.${report.target_type}` as MessageKey)} · {t(`reports.type.${report.type}` as MessageKey)} · {formatDateTime(report.created_at, language, timeZone)}
                  </p>
                </div>
                <Badge tone={STATUS_TONE[report.status]}>{t(`reports.status.${report.status}` as MessageKey)}</Badge>
              </Card>
            </li>
          ))}
        </ul>
      )}
      {reports.hasNextPage && (
        <div className="load-more"><Button variant="secondary" busy={reports.isFetchingNextPage} onClick={() => reports.fetchNextPage()}>{t("studies.loadMore")}</Button></div>
      )}
    </div>
  );
}
