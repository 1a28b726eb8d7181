// Where a notification takes the person (COUP.md §8.1 `data` and the study room's tab routes).
import type { Notification } from "../../lib/types";

const ROOM_TAB: Record<string, string> = {
  NOTICE: "/notices", FILE: "/files", EVENT: "/calendar", TASK: "/tasks", CHAT: "",
  JOIN_APPROVED: "", MEMBER: "", ROLE_CHANGE: "/members", OWNERSHIP_TRANSFERRED: "/members",
};
const REPORT_KINDS = new Set(["report_resolved", "report_rejected"]);

/** The page a notification opens, or null when it has nowhere to go (an account notice). */
export function notificationLink(notification: Pick<Notification, "type" | "study_id" | "data">): string | null {
  const { type, study_id: studyId } = notification;
  const kind = String(notification.data?.kind ?? "");
  if (type === "ADMIN") {
    if (REPORT_KINDS.has(kind)) return "/reports";
    return studyId && kind !== "study_deleted" ? `/studies/${studyId}` : null;
  }
  if (!studyId) return null;
  // A join request is reviewed on the study page; a rejection or kick leaves no room to enter.
  if (type === "JOIN_REQUEST" || type === "JOIN_REJECTED" || type === "KICK") return `/studies/${studyId}`;
  const tab = ROOM_TAB[type];
  return tab === undefined ? `/studies/${studyId}` : `/studies/${studyId}/room${tab}`;
}

export const NOTIFICATION_TYPES = ["JOIN_REQUEST", "JOIN_APPROVED", "JOIN_REJECTED", "MEMBER", "KICK", "ROLE_CHANGE",
  "OWNERSHIP_TRANSFERRED", "NOTICE", "FILE", "EVENT", "TASK", "CHAT", "ADMIN"] as const;
