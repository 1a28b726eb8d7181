import { Link } from "react-router";
import { Badge, Card } from "../../components/ui";
import { useI18n } from "../../lib/i18n";
import type { StudySummary } from "../../lib/types";
import { useCategoryLabel } from "./category-label";

export function StudyCard({ study }: { study: StudySummary }) {
  const { t } = useI18n();
  const categoryLabel = useCategoryLabel();
  const recruiting = study.recruiting_state === "recruiting";
  return (
    <Link to={`/studies/${study.id}`} className="card-link">
      <Card className="study-card">
        <div className="row">
          <span className="study-emoji" aria-hidden="true">{study.emoji}</span>
          <div className="study-card-title">
            <h2 className="study-name">{study.name}</h2>
            <div className="row">
              <Badge tone="primary">{categoryLabel(study.category)}</Badge>
              <Badge tone={recruiting ? "success" : "neutral"}>
                {t(recruiting ? "studies.recruitingOpen" : "studies.recruitingClosed")}
              </Badge>
            </div>
          </div>
        </div>
        <p className="study-desc">{study.description}</p>
        <div className="row-between muted study-meta">
          <span>{t("studies.members", { current: study.current_members, max: study.max_members })}</span>
          <span>{t("studies.owner", { name: study.owner.name })}</span>
        </div>
      </Card>
    </Link>
  );
}
