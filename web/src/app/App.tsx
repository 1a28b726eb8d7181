import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { type ReactNode } from "react";
import { createBrowserRouter, Link, Navigate, RouterProvider, useLocation, useSearchParams } from "react-router";
import { ConfirmProvider, EmptyState, Spinner, ToastProvider } from "../components/ui";
import { safeReturnPath, SignInPage } from "../features/auth/SignInPage";
import { SignUpPage } from "../features/auth/SignUpPage";
import { LandingPage } from "../features/landing/LandingPage";
import { MyStudiesPage } from "../features/my-studies/MyStudiesPage";
import { CreateStudyPage } from "../features/studies/CreateStudyPage";
import { ExplorePage } from "../features/studies/ExplorePage";
import { StudyDetailPage } from "../features/studies/StudyDetailPage";
import { ApiError } from "../lib/api-client";
import { I18nProvider, useI18n } from "../lib/i18n";
import { RealtimeProvider } from "../lib/realtime";
import { useSession } from "../lib/session";
import { Layout } from "./Layout";
import { StudyRoomPage } from "./StudyRoomPage";

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

function NotFound() {
  const { t } = useI18n();
  return <div className="page"><EmptyState icon="🧭" title={t("app.notFoundTitle")} body={t("app.notFoundBody")}
    action={<Link className="btn btn-primary" to="/">{t("app.goHome")}</Link>} /></div>;
}

const router = createBrowserRouter([{
  element: <Layout />,
  children: [
    { path: "/", element: <LandingPage /> },
    { path: "/sign-in", element: <GuestOnly fallback="/my-studies"><SignInPage /></GuestOnly> },
    { path: "/sign-up", element: <GuestOnly fallback="/studies"><SignUpPage /></GuestOnly> },
    { path: "/studies", element: <ExplorePage /> },
    { path: "/studies/new", element: <RequireSession><CreateStudyPage /></RequireSession> },
    { path: "/studies/:studyId", element: <StudyDetailPage /> },
    { path: "/studies/:studyId/room", element: <RequireSession><StudyRoomPage /></RequireSession> },
    { path: "/my-studies", element: <RequireSession><MyStudiesPage /></RequireSession> },
    { path: "*", element: <NotFound /> },
  ],
}]);

function Realtime({ children }: { children: ReactNode }) {
  const me = useSession().data;
  return <RealtimeProvider userId={me?.id ?? null}>{children}</RealtimeProvider>;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <ToastProvider>
          <ConfirmProvider>
            <Realtime>
              <RouterProvider router={router} />
            </Realtime>
          </ConfirmProvider>
        </ToastProvider>
      </I18nProvider>
    </QueryClientProvider>
  );
}
