// The one place that turns an error (REST or realtime) into text for a person.
import { ApiError } from "./api-client";
import { isMessageKey, type Translate } from "./i18n";

/** Codes whose server message is the useful part (it names the failing rule or field). */
const SERVER_WORDED = new Set(["VALIDATION_ERROR", "WEAK_PASSWORD", "PASSWORD_MISMATCH",
  "FILE_TYPE_NOT_ALLOWED", "FILE_REJECTED", "FILE_TOO_LARGE", "BAD_REQUEST", "CONFLICT"]);

export interface ErrorLike { code: string; message?: string; retryAfterMs?: number;
  fields?: Record<string, string>; details?: Record<string, unknown> }

export function errorText(error: unknown, t: Translate): string {
  const e = asErrorLike(error);
  if (e.code === "RATE_LIMITED") {
    const ms = e.retryAfterMs ?? Number(e.details?.retry_after_ms ?? 1000);
    return t("errors.RATE_LIMITED", { seconds: Math.max(1, Math.ceil(ms / 1000)) });
  }
  if (SERVER_WORDED.has(e.code) && e.message) {
    const fields = Object.values(e.fields ?? {});
    return fields.length ? fields.join(" ") : e.message;
  }
  const key = `errors.${e.code}`;
  if (isMessageKey(key)) return t(key);
  return e.message || t("errors.UNKNOWN");
}

/** Field-level messages for a form (VALIDATION_ERROR / WEAK_PASSWORD `fields`). */
export function fieldErrors(error: unknown): Record<string, string> {
  return error instanceof ApiError ? error.fields : {};
}

function asErrorLike(error: unknown): ErrorLike {
  if (error instanceof ApiError) return error;
  if (error && typeof error === "object" && "code" in error) return error as ErrorLike;
  return { code: "UNKNOWN" };
}
