import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { Button, Card, TextField } from "../../components/ui";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { useSignIn } from "./api";
import { OAuthButtons } from "./OAuthButtons";

export function safeReturnPath(value: string | null, fallback: string): string {
  return value && value.startsWith("/") && !value.startsWith("//") ? value : fallback;
}

export function SignInPage() {
  const { t } = useI18n();
  const [params] = useSearchParams();
  const next = safeReturnPath(params.get("next"), "/my-studies");
  const signIn = useSignIn();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const oauthError = params.get("error");

  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ email, password });
  };

  return (
    <div className="page page-narrow">
      <Card>
        <form className="stack" onSubmit={submit} noValidate>
          <div>
            <h1>{t("auth.signInTitle")}</h1>
            <p className="muted">{t("auth.signInLead")}</p>
          </div>
          <OAuthButtons returnTo={next} />
          <TextField label={t("auth.email")} type="email" name="email" autoComplete="email" required
            value={email} onChange={(event) => setEmail(event.target.value)} />
          <TextField label={t("auth.password")} type="password" name="password" autoComplete="current-password" required
            value={password} onChange={(event) => setPassword(event.target.value)} />
          {(signIn.error || oauthError) && (
            <p className="error-text" role="alert">{errorText(signIn.error ?? { code: oauthError! }, t)}</p>
          )}
          <Button type="submit" block busy={signIn.isPending}>{t("auth.signInSubmit")}</Button>
          <p className="muted">{t("auth.noAccount")} <Link to={`/sign-up?next=${encodeURIComponent(next)}`}>{t("nav.signUp")}</Link></p>
        </form>
      </Card>
    </div>
  );
}
