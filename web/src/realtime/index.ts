export { RealtimeClient, DURABLE_EVENT, type RealtimeEvents, type RealtimeOptions } from "./client";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
export { RealtimeError, type ConnectionState, type Hello, type OutboxItem, type Push, type RealtimeUser, type SocketLike } from "./types";
export { TYPING_EXPIRY_MS } from "./typing";

/** The same-origin socket address for a page (ws: on http, wss: on https). */
export function socketUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
}
