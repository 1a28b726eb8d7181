// Dates in the platform time zone (GET /api/config time_zone; Asia/Seoul by default).
import type { Language } from "./i18n";

export const DEFAULT_TIME_ZONE = "Asia/Seoul";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(language: Language, timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${language}|${timeZone}|${JSON.stringify(options)}`;
  let value = formatters.get(key);
  if (!value) {
    value = new Intl.DateTimeFormat(language === "ko" ? "ko-KR" : "en-GB", { timeZone, ...options });
    formatters.set(key, value);
  }
  return value;
}

/** "YYYY-MM-DD" of an instant in the zone: the key for day separators. */
export function dayKey(iso: string, timeZone: string): string {
  const parts = formatter("en", timeZone, { year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date(iso));
  const get = (type: string) => parts.find((part) => part.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function formatTime(iso: string, language: Language, timeZone: string): string {
  return formatter(language, timeZone, { hour: "numeric", minute: "2-digit" }).format(new Date(iso));
}

export function formatDay(iso: string, language: Language, timeZone: string): string {
  return formatter(language, timeZone, { year: "numeric", month: "long", day: "numeric", weekday: "long" })
    .format(new Date(iso));
}

export function formatDateTime(iso: string, language: Language, timeZone: string): string {
  return formatter(language, timeZone, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" })
    .format(new Date(iso));
}
