// PROTOCOL shapes the realtime client reads (docs/protocol.md is the full contract).
export interface RealtimeUser { id: string; name: string; avatar: string | null }

export interface Hello {
  session_id: string; user: RealtimeUser; node: string; heartbeat_ms: number;
  limits: Record<string, number>; unread_notifications: number;
}

/** A server push: `{event, data}`. Durable study events carry data.study_id and data.seq. */
export interface Push { event: string; data: Record<string, unknown> }

export interface JoinReply {
  study_id: string; seq: number; online: RealtimeUser[]; call: unknown;
  missed: Push[]; recovered: boolean;
}

/** A chat message the client owes the server until the server acknowledges it. */
export interface OutboxItem {
  clientId: string; studyId: string; content: string; createdAt: number;
  status: "pending" | "failed"; error?: RealtimeErrorInfo;
}

export interface RealtimeErrorInfo { code: string; message: string; retryAfterMs?: number }

/** What a WebSocket must offer; the browser's WebSocket fits, and so does a test fake. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export const SOCKET_OPEN = 1;

/**
 * idle: never connected. connecting: first attempt. connected: hello received.
 * reconnecting: lost, a retry is scheduled. closed: stopped (signed out or session revoked).
 */
export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

export class RealtimeError extends Error implements RealtimeErrorInfo {
  readonly code: string;
  readonly retryAfterMs?: number;
  constructor(info: RealtimeErrorInfo) {
    super(info.message);
    this.name = "RealtimeError";
    this.code = info.code;
    this.retryAfterMs = info.retryAfterMs;
  }
}
