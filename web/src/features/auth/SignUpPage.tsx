import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { Button, Card, TextField } from "../../components/ui";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { useSignUp } from "./api";
import { OAuthButtons } from "./OAuthButtons";
import { passwordAcceptable } from "./password-rules";
import { PasswordRuleList } from "./PasswordRuleList";
import { safeReturnPath } from "./SignInPage";

export function SignUpPage() {
  const { t } = useI18n();
  const [params] = useSearchParams();
  const next = safeReturnPath(params.get("next"), "/studies");
  const signUp = useSignUp();
  const [form, setForm] = useState({ email: "", name: "", password: "", confirm: "" });
  const [submitted, setSubmitted] = useState(false);
  const mismatch = form.confirm.length > 0 && form.confirm !== form.password;
  const server = fieldErrors(signUp.error);
  const set = (key: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm((current) => ({ ...current, [key]: event.target.value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!form.email || !form.name || !passwordAcceptable(form.password, form.email) || mismatch) return;
    signUp.mutate({ email: form.email, name: form.name, password: form.password, password_confirm: form.confirm });
  };

  return (
    <div className="page page-narrow">
      <Card>
        <form className="stack" onSubmit={submit} noValidate>
          <div>
            <h1>{t("auth.signUpTitle")}</h1>
            <p className="muted">{t("auth.signUpLead")}</p>
          </div>
          <OAuthButtons returnTo={next} />
          <TextField label={t("auth.email")} type="email" autoComplete="email" required value={form.email} onChange={set("email")}
            error={server.email ?? (submitted && !form.email ? t("auth.required") : null)} />
          <TextField label={t("auth.name")} autoComplete="nickname" required hint={t("auth.nameHint")} value={form.name} onChange={set("name")}
            error={server.name ?? (submitted && !form.name ? t("auth.required") : null)} />
          <TextField label={t("auth.password")} type="password" autoComplete="new-password" required value={form.password} onChange={set("password")}
            error={server.password ?? null}
            hint={<PasswordRuleList password={form.password} email={form.email} />} />
          <TextField label={t("auth.passwordConfirm")} type="password" autoComplete="new-password" required value={form.confirm} onChange={set("confirm")}
            error={mismatch ? t("auth.mismatch") : server.password_confirm ?? null} />
          {signUp.error && !Object.keys(server).length && <p className="error-text" role="alert">{errorText(signUp.error, t)}</p>}
          <Button type="submit" block busy={signUp.isPending}>{t("auth.signUpSubmit")}</Button>
          <p className="muted">{t("auth.haveAccount")} <Link to={`/sign-in?next=${encodeURIComponent(next)}`}>{t("nav.signIn")}</Link></p>
        </form>
      </Card>
    </div>
  );
}
