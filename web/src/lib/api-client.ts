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
  let envelope: Envelope<T, P>;
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError(response.status >= 500 ? "INTERNAL" : "UNKNOWN", response.statusText, response.status);
  }
  return fromEnvelope(envelope, response.ok, response.status, response.statusText);
}

interface Envelope<T, P> { success?: boolean; data?: T; pagination?: P; error?: {
  code: string; message: string; fields?: Record<string, string>; details?: Record<string, unknown> } }

/** The answer's data, or the ApiError its envelope names (UNAUTHORIZED also tells the listeners). */
function fromEnvelope<T, P>(envelope: Envelope<T, P>, ok: boolean, status: number, statusText: string): ApiResult<T, P> {
  if (!ok || envelope.success !== true) {
    const error = envelope.error ?? { code: "UNKNOWN", message: statusText };
    if (error.code === "UNAUTHORIZED") unauthorizedListeners.forEach((listener) => listener());
    throw new ApiError(error.code, error.message, status, error.fields ?? {}, error.details ?? {});
  }
  return { data: envelope.data as T, pagination: envelope.pagination as P };
}

export interface UploadOptions {
  /** Extra multipart fields sent before the file (e.g. `folder`). */
  fields?: Record<string, string>;
  /** Gets 0..1 while the body is sent, and 1 when the server has answered. */
  onProgress?: (fraction: number) => void;
  /** Aborting rejects with a DOMException named AbortError, like fetch. */
  signal?: AbortSignal;
}

function abortError(): DOMException {
  return new DOMException("aborted", "AbortError");
}

/**
 * POSTs `file` as the multipart field "file", with upload progress. fetch() reports none, so this
 * is the one request made with XMLHttpRequest; the XSRF header, the envelope and the ApiError
 * mapping are the same as every other call (a bare 413 from a proxy becomes FILE_TOO_LARGE).
 */
export async function upload<T>(path: string, file: File, options: UploadOptions = {}): Promise<ApiResult<T>> {
  const { fields = {}, onProgress, signal } = options;
  if (signal?.aborted) throw abortError();
  const token = await xsrfToken();
  if (signal?.aborted) throw abortError();
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append("file", file, file.name);
  return new Promise<ApiResult<T>>((resolve, reject) => {
    const request = new XMLHttpRequest();
    const onAbort = () => request.abort();
    const settle = (finish: () => void) => { signal?.removeEventListener("abort", onAbort); finish(); };
    request.open("POST", path);
    request.withCredentials = true;
    request.setRequestHeader("X-XSRFToken", token);
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = (event) => { if (event.lengthComputable && event.total > 0) onProgress?.(event.loaded / event.total); };
    request.onerror = () => settle(() => reject(new ApiError("NETWORK", "network error")));
    request.onabort = () => settle(() => reject(abortError()));
    request.onload = () => settle(() => {
      let envelope: Envelope<T, undefined>;
      try {
        envelope = JSON.parse(request.responseText) as Envelope<T, undefined>;
      } catch {
        const code = request.status === 413 ? "FILE_TOO_LARGE" : request.status >= 500 ? "INTERNAL" : "UNKNOWN";
        reject(new ApiError(code, request.statusText, request.status));
        return;
      }
      try {
        const result = fromEnvelope(envelope, request.status >= 200 && request.status < 300, request.status, request.statusText);
        onProgress?.(1);
        resolve(result);
      } catch (error) {
        reject(error);
      }
    });
    signal?.addEventListener("abort", onAbort);
    request.send(form);
  });
}

export const api = {
  get: <T, P = undefined>(path: string, query?: Query, signal?: AbortSignal) =>
    send<T, P>("GET", path, { query, signal }),
  post: <T>(path: string, body?: unknown) => send<T>("POST", path, { body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => send<T>("PATCH", path, { body }),
  delete: <T>(path: string, body?: unknown) => send<T>("DELETE", path, { body }),
  upload,
};
