// React glue for the realtime client: one client per tab while signed in, its state as a hook.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from "react";
import { RealtimeClient, socketUrl, type ConnectionState, type RealtimeEvents } from "../realtime";
import { api } from "./api-client";
import { SESSION_KEY } from "./session";

const RealtimeContext = createContext<RealtimeClient | null>(null);

/** Why this tab's socket is closed for good while the session is still valid (shown with "reconnect"). */
export type DisconnectReason = "tooManyTabs" | "disconnected";
export interface Disconnected { reason: DisconnectReason; reconnect: () => void }
const DisconnectedContext = createContext<Disconnected | null>(null);

interface SessionCheck { valid: boolean; should_logout: boolean }

/**
 * What to do after a close the client does not retry (1008, 4001). PROTOCOL §9 closes with 1008
 * for a revoked session or suspension, but also for "too many connections" (the user's oldest
 * sockets make room), which must not sign a person out: only validate-session decides that
 * (`should_logout`, or no longer `valid`).
 */
export async function afterFinalClose(reason: string, validate: () => Promise<SessionCheck>): Promise<"signOut" | DisconnectReason> {
  let check: SessionCheck;
  try {
    check = await validate();
  } catch {
    return "disconnected"; // no answer: keep the session and offer to reconnect
  }
  // `should_logout` is false for NO_SESSION, but a tab that had a session and now sends no cookie
  // was signed out: another tab's request got the revoked answer first, which clears the cookie.
  if (check.should_logout || !check.valid) return "signOut";
  return !reason || /too many connections/i.test(reason) ? "tooManyTabs" : "disconnected";
}

const serverSignOutListeners = new Set<() => void>();

/**
 * Called when the server ended this tab's session (1008 or 4001, and validate-session said
 * `should_logout`): the place for "your session ended" text. A 1008 that only closed the
 * oldest of too many tabs does not call it (useDisconnected() tells that one).
 */
export function onServerSignOut(listener: () => void): () => void {
  serverSignOutListeners.add(listener);
  return () => { serverSignOutListeners.delete(listener); };
}

const validateSession = async () => (await api.get<SessionCheck>("/api/auth/validate-session")).data;

// After this many failed reconnects, ask the server whether the session is still good: a
// refused upgrade (401) looks like any other network failure to a browser.
const VALIDATE_AFTER_ATTEMPTS = 2;

export function RealtimeProvider({ userId, children }: { userId: string | null; children: ReactNode }) {
  const queryClient = useQueryClient();
  // One client per signed-in user; a new user (or sign-out) gets a fresh one.
  const client = useMemo(() => (userId ? new RealtimeClient({ url: socketUrl(window.location) }) : null), [userId]);
  const [closed, setClosed] = useState<{ client: RealtimeClient; reason: DisconnectReason } | null>(null);

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
    let active = true;
    const offEnded = next.on("sessionEnded", ({ reason }) => {
      afterFinalClose(reason, validateSession).then((outcome) => {
        if (!active) return;
        if (outcome === "signOut") {
          serverSignOutListeners.forEach((listener) => listener());
          queryClient.setQueryData(SESSION_KEY, null);
        } else {
          setClosed({ client: next, reason: outcome });
        }
      }, () => {});
    });
    const online = () => next.setNetworkOnline(true);
    const offline = () => next.setNetworkOnline(false);
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    next.connect();
    return () => {
      active = false;
      offState(); offEnded();
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      next.disconnect();
    };
  }, [client, queryClient]);

  const reconnect = useCallback(() => { setClosed(null); client?.connect(); }, [client]);
  const disconnected = useMemo<Disconnected | null>(
    () => (closed && closed.client === client ? { reason: closed.reason, reconnect } : null), [closed, client, reconnect]);

  return (
    <RealtimeContext.Provider value={client}>
      <DisconnectedContext.Provider value={disconnected}>{children}</DisconnectedContext.Provider>
    </RealtimeContext.Provider>
  );
}

/** Set when the server closed this tab's socket but the session is still good (e.g. too many tabs). */
export function useDisconnected(): Disconnected | null {
  return useContext(DisconnectedContext);
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
