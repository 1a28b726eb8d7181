import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useId, useRef, type ComponentType, type ReactNode } from "react";
import { createBrowserRouter, Link, Navigate, RouterProvider, useLocation, useSearchParams } from "react-router";
import { Button, ConfirmProvider, EmptyState, Spinner, ToastProvider } from "../components/ui";
import { passwordAcceptable } from "../features/auth/password-rules";
import { PasswordRuleList } from "../features/auth/PasswordRuleList";
import { safeReturnPath, SignInPage } from "../features/auth/SignInPage";
import { SignUpPage } from "../features/auth/SignUpPage";
import { MessageReportProvider, type MessageReportAction } from "../features/chat/report-slot";
import { LandingPage } from "../features/landing/LandingPage";
import { JoinRequests } from "../features/members/MembersPanel";
import { MyStudiesPage } from "../features/my-studies/MyStudiesPage";
import type { PasswordPolicy } from "../features/profile/ProfilePage";
import type { ReportTarget } from "../features/reports";
import { CreateStudyPage } from "../features/studies/CreateStudyPage";
import { ExplorePage } from "../features/studies/ExplorePage";
import { StudyDetailPage } from "../features/studies/StudyDetailPage";
import { ApiError } from "../lib/api-client";
import { I18nProvider, useI18n, type MessageKey } from "../lib/i18n";
import { RealtimeProvider, useDisconnected, type Disconnected } from "../lib/realtime";
import { useSession } from "../lib/session";
import type { Study } from "../lib/types";
import { Layout } from "./Layout";
import { StudyRoomPage } from "./StudyRoomPage";

/** Pages a person opens after signing in load on first visit, so the sign-in page stays small. */
function page<P extends object>(load: () => Promise<ComponentType<P>>) {
  return lazy(async () => ({ default: await load() }));
}
const DashboardPage = page(() => import("../features/dashboard/DashboardPage").then((module) => module.DashboardPage));
const NotificationCentrePage = page(() => import("../features/notifications/NotificationCentrePage").then((module) => module.NotificationCentrePage));
const PersonalTasksPage = page(() => import("../features/personal-tasks/PersonalTasksPage").then((module) => module.PersonalTasksPage));
const ProfilePage = page(() => import("../features/profile/ProfilePage").then((module) => module.ProfilePage));
const UserProfilePage = page(() => import("../features/users/UserProfilePage").then((module) => module.UserProfilePage));
const GroupsPage = page(() => import("../features/groups/GroupsPage").then((module) => module.GroupsPage));
const CreateGroupPage = page(() => import("../features/groups/CreateGroupPage").then((module) => module.CreateGroupPage));
const GroupDetailPage = page(() => import("../features/groups/GroupDetailPage").then((module) => module.GroupDetailPage));
const MyReportsPage = page(() => import("../features/reports").then((module) => module.MyReportsPage));
const ReportButton = page(() => import("../features/reports").then((module) => module.ReportButton));
const JoinByInvitePage = page(() => import("../features/invites/JoinByInvitePage").then((module) => module.JoinByInvitePage));
const StudyInviteRedirect = page(() => import("../features/invites/JoinByInvitePage").then((module) => module.StudyInviteRedirect));
const TermsPage = page(() => import("../features/legal/LegalPages").then((module) => module.TermsPage));
const PrivacyPage = page(() => import("../features/legal/LegalPages").then((module) => module.PrivacyPage));

// The report buttons the app hands to features (features never import each other). The button's
// code loads on first use inside its own boundary, so the page around it never suspends.
function report(target: ReportTarget) {
  return <Suspense fallback={null}><ReportButton target={target} /></Suspense>;
}

function reportUser(user: { id: string; name: string }) {
  return report({ type: "USER", id: user.id, name: user.name });
}

function reportStudy(study: { id: string; name: string }) {
  return report({ type: "STUDY", id: study.id, name: study.name });
}

/** The members feature's review, on the study page too (features do not import each other). */
function reviewJoinRequests(study: Study) {
  return <JoinRequests study={study} heading="h2" />;
}

const EXCERPT = 40;
const reportMessage: MessageReportAction = (message) => {
  const text = [...(message.content || message.file?.name || "")];
  const excerpt = text.length > EXCERPT ? `${text.slice(0, EXCERPT).join("")}…` : text.join("");
  return report({ type: "MESSAGE", id: message.id, name: `${message.user.name}: ${excerpt}` });
};

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // Retrying a 4xx repeats a refusal; only network and server failures are worth a retry.
      retry: (count, error) => count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
    },
  },
});

function RequireSession({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <div className="page"><Spinner /></div>;
  if (!session.data) return <Navigate to={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return children;
}

/** Sign-in and sign-up: a signed-in person (also right after signing in) goes to `next`. */
function GuestOnly({ fallback, children }: { fallback: string; children: ReactNode }) {
  const session = useSession();
  const [params] = useSearchParams();
  if (session.data) return <Navigate to={safeReturnPath(params.get("next"), fallback)} replace />;
  return children;
}

/** The signed-in home is the dashboard; the landing page is for everyone else. */
function Home() {
  const session = useSession();
  if (session.data) return <Navigate to="/dashboard" replace />;
  return <LandingPage />;
}

/** The auth feature's password policy, handed to the profile page (features do not import each other). */
const passwordPolicy: PasswordPolicy = { acceptable: passwordAcceptable, Rules: PasswordRuleList };

function NotFound() {
  const { t } = useI18n();
  return <div className="page"><EmptyState icon="🧭" title={t("app.notFoundTitle")} body={t("app.notFoundBody")}
    action={<Link className="btn btn-primary" to="/">{t("app.goHome")}</Link>} /></div>;
}

const router = createBrowserRouter([{
  element: <Layout />,
  children: [
    { path: "/", element: <Home /> },
    { path: "/sign-in", element: <GuestOnly fallback="/dashboard"><SignInPage /></GuestOnly> },
    { path: "/sign-up", element: <GuestOnly fallback="/studies"><SignUpPage /></GuestOnly> },
    { path: "/studies", element: <ExplorePage /> },
    { path: "/studies/new", element: <RequireSession><CreateStudyPage /></RequireSession> },
    { path: "/studies/:studyId", element: <StudyDetailPage reportAction={reportStudy} joinRequests={reviewJoinRequests} /> },
    { path: "/studies/:studyId/room/*", element: <RequireSession><StudyRoomPage /></RequireSession> },
    { path: "/studies/:studyId/join", element: <StudyInviteRedirect /> },
    { path: "/my-studies", element: <RequireSession><MyStudiesPage /></RequireSession> },
    { path: "/dashboard", element: <RequireSession><DashboardPage /></RequireSession> },
    { path: "/notifications", element: <RequireSession><NotificationCentrePage /></RequireSession> },
    { path: "/tasks", element: <RequireSession><PersonalTasksPage /></RequireSession> },
    { path: "/me", element: <RequireSession><ProfilePage passwordPolicy={passwordPolicy} /></RequireSession> },
    { path: "/users/:userId", element: <RequireSession><UserProfilePage reportAction={reportUser} /></RequireSession> },
    { path: "/groups", element: <RequireSession><GroupsPage /></RequireSession> },
    { path: "/groups/new", element: <RequireSession><CreateGroupPage /></RequireSession> },
    { path: "/groups/:groupId", element: <RequireSession><GroupDetailPage /></RequireSession> },
    { path: "/reports", element: <RequireSession><MyReportsPage /></RequireSession> },
    { path: "/join/:code", element: <JoinByInvitePage /> },
    { path: "/terms", element: <TermsPage /> },
    { path: "/privacy", element: <PrivacyPage /> },
    { path: "*", element: <NotFound /> },
  ],
}]);

/** The server closed this tab's socket but the session is still valid (too many tabs): say so, offer to reconnect. */
function DisconnectedNotice() {
  const disconnected = useDisconnected();
  return disconnected ? <DisconnectedDialog disconnected={disconnected} /> : null;
}

function DisconnectedDialog({ disconnected }: { disconnected: Disconnected }) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const [title, body] = [`polish.disconnected.title.${disconnected.reason}`, `polish.disconnected.body.${disconnected.reason}`] as MessageKey[];
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog ref={ref} className="dialog" role="alertdialog" aria-labelledby={titleId} aria-describedby={bodyId} data-testid="disconnected">
      <h2 id={titleId}>{t(title!)}</h2>
      <p id={bodyId} className="muted">{t(body!)}</p>
      <div className="dialog-actions">
        <Button variant="secondary" onClick={() => ref.current?.close()}>{t("polish.later")}</Button>
        <Button onClick={disconnected.reconnect}>{t("polish.reconnect")}</Button>
      </div>
    </dialog>
  );
}

function Realtime({ children }: { children: ReactNode }) {
  const me = useSession().data;
  return <RealtimeProvider userId={me?.id ?? null}>{children}<DisconnectedNotice /></RealtimeProvider>;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <ToastProvider>
          <ConfirmProvider>
            <Realtime>
              <MessageReportProvider value={reportMessage}>
                <RouterProvider router={router} />
              </MessageReportProvider>
            </Realtime>
          </ConfirmProvider>
        </ToastProvider>
      </I18nProvider>
    </QueryClientProvider>
  );
}
