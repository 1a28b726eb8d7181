// Sizes and the storage bar, and the upload rules the browser can check before sending
// (COUP.md §7.9; the server checks everything again and its message is what is shown).

export type FileCategory = "IMAGE" | "DOCUMENT" | "ARCHIVE" | "VIDEO" | "AUDIO" | "CODE";
export const CATEGORIES: FileCategory[] = ["IMAGE", "DOCUMENT", "ARCHIVE", "VIDEO", "AUDIO", "CODE"];

const EXTENSIONS: Record<FileCategory, string[]> = {
  IMAGE: ["jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "ico", "tif", "tiff", "heic", "heif"],
  DOCUMENT: ["pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "md"],
  ARCHIVE: ["zip", "rar", "7z", "tar", "gz"],
  VIDEO: ["mp4", "avi", "mov", "wmv", "flv", "webm"],
  AUDIO: ["mp3", "wav", "ogg", "m4a", "flac"],
  CODE: ["jsx", "ts", "tsx", "py", "java", "cpp", "c", "html", "css", "json", "xml"],
};
const MB = 1024 * 1024;
export const CATEGORY_LIMIT: Record<FileCategory, number> = {
  IMAGE: 10 * MB, DOCUMENT: 10 * MB, ARCHIVE: 50 * MB, VIDEO: 100 * MB, AUDIO: 20 * MB, CODE: 2 * MB,
};
const BLOCKED = new Set(["exe", "bat", "cmd", "com", "scr", "pif", "msi", "dll", "sys", "drv", "sh", "bash",
  "csh", "vbs", "js", "jse", "wsf", "ps1", "psm1"]);

export function categoryOf(name: string): FileCategory | null {
  const extension = name.includes(".") ? name.split(".").pop()!.toLowerCase() : "";
  return CATEGORIES.find((category) => EXTENSIONS[category].includes(extension)) ?? null;
}

/** Why the server would refuse this file before any byte is sent, or null. */
export function precheck(name: string, size: number): { code: "FILE_TYPE_NOT_ALLOWED" | "FILE_TOO_LARGE"; limit?: number } | null {
  const parts = name.toLowerCase().split(".").slice(1);
  if (parts.some((part) => BLOCKED.has(part))) return { code: "FILE_TYPE_NOT_ALLOWED" };
  const category = categoryOf(name);
  if (!category) return { code: "FILE_TYPE_NOT_ALLOWED" };
  if (size > CATEGORY_LIMIT[category]) return { code: "FILE_TOO_LARGE", limit: CATEGORY_LIMIT[category] };
  return null;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value >= 100 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

/** The bar's fill (0-100, at least a sliver when anything is stored) and its warning level. */
export function storageBar(used: number, quota: number): { percent: number; level: "ok" | "high" | "full" } {
  if (quota <= 0) return { percent: 100, level: "full" };
  const exact = (used / quota) * 100;
  const percent = used > 0 ? Math.min(100, Math.max(1, Math.round(exact * 10) / 10)) : 0;
  return { percent, level: exact >= 100 ? "full" : exact >= 90 ? "high" : "ok" };
}
