import { useI18n, type MessageKey } from "../../lib/i18n";
import { passwordRules, type RuleKey } from "./password-rules";

const RULES: RuleKey[] = ["length", "classes", "common", "email", "strength"];

/** The password rules, each ticked as the person types (sign-up, and the profile's change). */
export function PasswordRuleList({ password, email }: { password: string; email: string }) {
  const { t } = useI18n();
  const rules = passwordRules(password, email);
  return (
    <div aria-live="polite">
      <span className="visually-hidden">{t("auth.passwordRules")}</span>
      <ul className="rules">
        {RULES.map((rule) => (
          <li key={rule} data-met={rules[rule]}>
            <span aria-hidden="true">{rules[rule] ? "✓" : "○"}</span> {t(`auth.rule.${rule}` as MessageKey)}
            <span className="visually-hidden">: {t(rules[rule] ? "auth.rule.met" : "auth.rule.unmet")}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
