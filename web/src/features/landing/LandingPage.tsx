import { Link } from "react-router";
import { Card } from "../../components/ui";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useSession } from "../../lib/session";

const FEATURES: { icon: string; title: MessageKey; body: MessageKey }[] = [
  { icon: "🔍", title: "landing.feature1Title", body: "landing.feature1Body" },
  { icon: "💬", title: "landing.feature2Title", body: "landing.feature2Body" },
  { icon: "🗂️", title: "landing.feature3Title", body: "landing.feature3Body" },
];

export function LandingPage() {
  const { t } = useI18n();
  const signedIn = Boolean(useSession().data);
  return (
    <div className="page">
      <section className="hero">
        <h1>{t("landing.title")}</h1>
        <p className="hero-lead">{t("landing.lead")}</p>
        <div className="row hero-actions">
          {signedIn
            ? <Link className="btn btn-primary" to="/my-studies">{t("landing.goMyStudies")}</Link>
            : <Link className="btn btn-primary" to="/sign-up">{t("landing.start")}</Link>}
          <Link className="btn btn-secondary" to="/studies">{t("landing.explore")}</Link>
        </div>
      </section>
      <ul className="grid-cards plain-list">
        {FEATURES.map((feature) => (
          <li key={feature.title}>
            <Card className="stack-s">
              <span className="feature-icon" aria-hidden="true">{feature.icon}</span>
              <h2>{t(feature.title)}</h2>
              <p className="muted">{t(feature.body)}</p>
            </Card>
          </li>
        ))}
      </ul>
    </div>
  );
}
