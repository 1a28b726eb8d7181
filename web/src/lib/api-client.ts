// The one way the app talks REST to the server: the envelope, the XSRF header, the error codes.
// COUP.md §1 items 5-8 (envelopes, pagination) and §5.2 (XSRF for cookie sessions).

export interface OffsetPagination {
  page: number; limit: number; total: number; total_pages: number; has_next: boolean; has_prev: boolean;
}
export interface CursorPagination {
  limit: number; has_more: boolean; oldest_seq: number | null; newest_seq: number | null; latest_seq: number;
}

export interface ApiResult<T, P = undefined> { data: T; pagination: P }

/** A failed request. `code` is the server's error code, or NETWORK when no answer came. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fields: Record<string, string>;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, status = 0,
    fields: Record<string, string> = {}, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.fields = fields;
    this.details = details;
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;
interface RequestOptions { query?: Query; body?: unknown; signal?: AbortSignal }

const XSRF_COOKIE = "_xsrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const unauthorizedListeners = new Set<() => void>();

/** Called when a request that needed a session got UNAUTHORIZED (expired, revoked). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function xsrfToken(): Promise<string> {
  // index.html sets the cookie; /api/auth/csrf is the fallback (COUP.md §7.1).
  const cookie = readCookie(XSRF_COOKIE);
  if (cookie) return cookie;
  const result = await send<{ xsrf_token: string }>("GET", "/api/auth/csrf", {});
  return result.data.xsrf_token;
}

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function send<T, P = undefined>(method: string, path: string, options: RequestOptions): Promise<ApiResult<T, P>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) headers["X-XSRFToken"] = await xsrfToken();
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method, headers, credentials: "same-origin", signal: options.signal,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError("NETWORK", "network error");
  }
  let envelope: { success?: boolean; data?: T; pagination?: P; error?: {
    code: string; message: string; fields?: Record<string, string>; details?: Record<string, unknown> } };
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError(response.status >= 500 ? "INTERNAL" : "UNKNOWN", response.statusText, response.status);
  }
  if (!response.ok || envelope.success !== true) {
    const error = envelope.error ?? { code: "UNKNOWN", message: response.statusText };
    if (error.code === "UNAUTHORIZED") unauthorizedListeners.forEach((listener) => listener());
    throw new ApiError(error.code, error.message, response.status, error.fields ?? {}, error.details ?? {});
  }
  return { data: envelope.data as T, pagination: envelope.pagination as P };
}

export const api = {
  get: <T, P = undefined>(path: string, query?: Query, signal?: AbortSignal) =>
    send<T, P>("GET", path, { query, signal }),
  post: <T>(path: string, body?: unknown) => send<T>("POST", path, { body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => send<T>("PATCH", path, { body }),
  delete: <T>(path: string, body?: unknown) => send<T>("DELETE", path, { body }),
};
