import { Button } from "../../components/ui";
import { useConfig } from "../../lib/config";
import { useI18n } from "../../lib/i18n";

/** Shown only for the providers GET /api/config lists (COUP.md §5.5). */
export function OAuthButtons({ returnTo }: { returnTo: string }) {
  const { t } = useI18n();
  const providers = useConfig().data?.oauth_providers ?? [];
  if (providers.length === 0) return null;
  const start = (provider: string) => {
    window.location.assign(`/api/auth/oauth/${provider}/start?client=web&return_to=${encodeURIComponent(returnTo)}`);
  };
  return (
    <div className="stack-s">
      {providers.includes("google") && <Button variant="secondary" block onClick={() => start("google")}>{t("auth.oauthGoogle")}</Button>}
      {providers.includes("github") && <Button variant="secondary" block onClick={() => start("github")}>{t("auth.oauthGithub")}</Button>}
      <p className="field-hint">{t("auth.oauthHint")}</p>
      <p className="muted text-center">{t("auth.or")}</p>
    </div>
  );
}
