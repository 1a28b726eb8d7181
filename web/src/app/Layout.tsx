import { Link, NavLink, Outlet, useMatch, useNavigate } from "react-router";
import { Suspense, useEffect } from "react";
import { Avatar, Button, Spinner, useToast } from "../components/ui";
import { useSignOut } from "../features/auth/api";
import { NotificationBell } from "../features/notifications/NotificationBell";
import { useI18n, type MessageKey } from "../lib/i18n";
import { onServerSignOut, useConnectionState } from "../lib/realtime";
import { useSession } from "../lib/session";
import "../styles/pages.css";

export function Layout() {
  const { t, language, setLanguage } = useI18n();
  const me = useSession().data;
  const signOut = useSignOut();
  const navigate = useNavigate();
  const toast = useToast();
  useSessionEndedNotice();
  // The study room fills the screen below the header; the footer would only push it down.
  const inRoom = useMatch("/studies/:studyId/room/*");
  const home = { to: "/dashboard", label: t("nav.home"), icon: "🏠", end: true };
  const explore = { to: "/studies", label: t("nav.explore"), icon: "🔍", end: true };
  const mine = { to: "/my-studies", label: t("nav.myStudies"), icon: "📚", end: false };
  const tasks = { to: "/tasks", label: t("nav.tasks"), icon: "✅", end: false };
  const groups = { to: "/groups", label: t("nav.groups"), icon: "👥", end: false };
  const create = { to: "/studies/new", label: t("nav.create"), icon: "➕", end: false };
  const links = me ? [home, explore, mine, tasks, groups, create] : [explore];
  // Five fit a 360 px phone; "create" stays one tap away on my studies and explore.
  const bottomLinks = [home, explore, mine, tasks, groups];
  return (
    <div className={me ? "has-bottom-nav" : undefined}>
      <a href="#main" className="skip-link">{t("app.skipToContent")}</a>
      <header className="header">
        <div className="header-inner">
          <NavLink to="/" className="brand">CoUp</NavLink>
          <nav className="nav" aria-label={t("nav.main")}>
            {links.map((link) => <NavLink key={link.to} to={link.to} end={link.end}>{link.label}</NavLink>)}
          </nav>
          <div className="header-actions">
            {me && <ConnectionIndicator />}
            <Button variant="ghost" size="s" lang={language === "ko" ? "en" : "ko"} onClick={() => setLanguage(language === "ko" ? "en" : "ko")}
              aria-label={`${language === "ko" ? "EN" : "한"} (${t("app.language")}: ${t("app.languageToggle")})`}>
              {language === "ko" ? "EN" : "한"}
            </Button>
            {me ? (
              <>
                <NotificationBell />
                <Link to="/me" className="avatar-link" title={me.name} aria-label={t("nav.profile", { name: me.name })}>
                  <Avatar name={me.name} src={me.avatar} size={32} />
                </Link>
                <Button variant="ghost" size="s" busy={signOut.isPending}
                  onClick={() => signOut.mutate(undefined, { onSettled: () => { toast(t("auth.signedOut")); navigate("/"); } })}>
                  {t("nav.signOut")}
                </Button>
              </>
            ) : (
              <>
                <NavLink className="btn btn-ghost btn-s" to="/sign-in">{t("nav.signIn")}</NavLink>
                <NavLink className="btn btn-primary btn-s" to="/sign-up">{t("nav.signUp")}</NavLink>
              </>
            )}
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<div className="page"><Spinner label={t("app.loading")} /></div>}>
          <Outlet />
        </Suspense>
      </main>
      {!inRoom && <footer className="footer">
        <nav aria-label={t("nav.footer")} className="footer-links">
          <Link to="/terms">{t("legal.termsTitle")}</Link>
          <Link to="/privacy">{t("legal.privacyTitle")}</Link>
        </nav>
      </footer>}
      {me && (
        <nav className="bottom-nav" aria-label={t("nav.mobile")}>
          {bottomLinks.map((link) => (
            <NavLink key={link.to} to={link.to} end={link.end}><span aria-hidden="true">{link.icon}</span>{link.label}</NavLink>
          ))}
        </nav>
      )}
    </div>
  );
}

/** The server closed this tab's session (revoked elsewhere, password changed): say why. */
/** A toast when the server really ended the session; a 1008 for too many tabs is not that
 * (lib/realtime.tsx asks validate-session first and keeps the person signed in). */
function useSessionEndedNotice() {
  const { t } = useI18n();
  const toast = useToast();
  useEffect(() => onServerSignOut(() => toast(t("auth.sessionEnded"), "error")), [t, toast]);
}

function ConnectionIndicator() {
  const { t } = useI18n();
  const state = useConnectionState();
  const label = t(`conn.${state === "idle" ? "connecting" : state}` as MessageKey);
  return (
    <span className="conn" data-state={state} data-testid="connection-state" role="status" aria-label={label} title={label}>
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-label" aria-hidden="true">{label}</span>
    </span>
  );
}
