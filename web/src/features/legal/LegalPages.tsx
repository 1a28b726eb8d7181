import { Link } from "react-router";
import { Card } from "../../components/ui";
import { useI18n, type MessageKey } from "../../lib/i18n";
import "../../styles/pages.css";

/** Placeholder terms and privacy notes: what the service does and stores, no legal claims. */
function LegalPage({ title, sections, other }: { title: MessageKey; sections: [MessageKey, MessageKey][]; other: { to: string; label: MessageKey } }) {
  const { t } = useI18n();
  return (
    <div className="page page-medium">
      <Card className="stack legal">
        <h1>{t(title)}</h1>
        <p className="badge badge-warning legal-note">{t("legal.placeholder")}</p>
        {sections.map(([heading, body]) => (
          <section key={heading}>
            <h2>{t(heading)}</h2>
            <p className="pre-line">{t(body)}</p>
          </section>
        ))}
        <p className="muted small"><Link to={other.to}>{t(other.label)}</Link></p>
      </Card>
    </div>
  );
}

export function TermsPage() {
  return <LegalPage title="legal.termsTitle" other={{ to: "/privacy", label: "legal.privacyTitle" }} sections={[
    ["legal.terms.serviceTitle", "legal.terms.service"],
    ["legal.terms.accountTitle", "legal.terms.account"],
    ["legal.terms.contentTitle", "legal.terms.content"],
    ["legal.terms.conductTitle", "legal.terms.conduct"],
    ["legal.terms.endTitle", "legal.terms.end"],
  ]} />;
}

export function PrivacyPage() {
  return <LegalPage title="legal.privacyTitle" other={{ to: "/terms", label: "legal.termsTitle" }} sections={[
    ["legal.privacy.accountTitle", "legal.privacy.account"],
    ["legal.privacy.sessionsTitle", "legal.privacy.sessions"],
    ["legal.privacy.contentTitle", "legal.privacy.content"],
    ["legal.privacy.visibleTitle", "legal.privacy.visible"],
    ["legal.privacy.browserTitle", "legal.privacy.browser"],
    ["legal.privacy.deleteTitle", "legal.privacy.delete"],
  ]} />;
}
