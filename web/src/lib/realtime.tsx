// React glue for the realtime client: one client per tab while signed in, its state as a hook.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useMemo, useSyncExternalStore, type ReactNode } from "react";
import { RealtimeClient, socketUrl, type ConnectionState, type RealtimeEvents } from "../realtime";
import { api } from "./api-client";
import { SESSION_KEY } from "./session";

const RealtimeContext = createContext<RealtimeClient | null>(null);

// After this many failed reconnects, ask the server whether the session is still good: a
// refused upgrade (401) looks like any other network failure to a browser.
const VALIDATE_AFTER_ATTEMPTS = 2;

export function RealtimeProvider({ userId, children }: { userId: string | null; children: ReactNode }) {
  const queryClient = useQueryClient();
  // One client per signed-in user; a new user (or sign-out) gets a fresh one.
  const client = useMemo(() => (userId ? new RealtimeClient({ url: socketUrl(window.location) }) : null), [userId]);

  useEffect(() => {
    if (!client) return;
    const next = client;
    let failures = 0;
    const offState = next.on("state", ({ state }) => {
      if (state === "connected") failures = 0;
      if (state !== "reconnecting" || ++failures < VALIDATE_AFTER_ATTEMPTS || !navigator.onLine) return;
      api.get<{ valid: boolean; should_logout: boolean }>("/api/auth/validate-session").then(({ data }) => {
        if (data.should_logout) { next.disconnect(); queryClient.setQueryData(SESSION_KEY, null); }
      }, () => {});
    });
    const offEnded = next.on("sessionEnded", () => queryClient.setQueryData(SESSION_KEY, null));
    const online = () => next.setNetworkOnline(true);
    const offline = () => next.setNetworkOnline(false);
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    next.connect();
    return () => {
      offState(); offEnded();
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      next.disconnect();
    };
  }, [client, queryClient]);

  return <RealtimeContext.Provider value={client}>{children}</RealtimeContext.Provider>;
}

export function useRealtime(): RealtimeClient | null {
  return useContext(RealtimeContext);
}

export function useConnectionState(): ConnectionState {
  const client = useRealtime();
  return useSyncExternalStore(
    (notify) => client?.on("state", notify) ?? (() => {}),
    () => client?.state ?? "idle",
  );
}

/** A value of the client (presence, typing, outbox) that re-renders when `event` fires. */
export function useRealtimeValue<T>(event: keyof RealtimeEvents, read: (client: RealtimeClient) => T, fallback: T): T {
  const client = useRealtime();
  return useSyncExternalStore(
    (notify) => client?.on(event, notify) ?? (() => {}),
    () => (client ? read(client) : fallback),
  );
}
