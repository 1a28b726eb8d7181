// Pure helpers for the chat cache: merging pages and live events, day groups, read receipts.
import { dayKey } from "../../lib/dates";
import type { Message } from "../../lib/types";

export interface ChatHistory { messages: Message[]; hasMoreBefore: boolean }

/** Messages by id (a later copy replaces an earlier one), in seq order. */
export function mergeMessages(current: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return current;
  const byId = new Map(current.map((message) => [message.id, message]));
  for (const message of incoming) {
    const known = byId.get(message.id);
    if (!known || message.updated_at >= known.updated_at) byId.set(message.id, message);
  }
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

export function withoutMessage(current: Message[], id: string): Message[] {
  return current.filter((message) => message.id !== id);
}

export type ChatRow =
  | { kind: "day"; key: string; iso: string }
  | { kind: "message"; key: string; message: Message; showAuthor: boolean };

const GROUP_GAP_MS = 5 * 60_000;

/** Rows for the list: a separator before each new day (in the platform zone), author headers. */
export function chatRows(messages: Message[], timeZone: string): ChatRow[] {
  const rows: ChatRow[] = [];
  let previous: Message | null = null;
  let previousDay = "";
  for (const message of messages) {
    const day = dayKey(message.created_at, timeZone);
    if (day !== previousDay) {
      rows.push({ kind: "day", key: `day-${day}`, iso: message.created_at });
      previousDay = day;
      previous = null;
    }
    const showAuthor = !previous || previous.user.id !== message.user.id
      || Date.parse(message.created_at) - Date.parse(previous.created_at) > GROUP_GAP_MS;
    rows.push({ kind: "message", key: message.id, message, showAuthor });
    previous = message;
  }
  return rows;
}

/** How many members other than the author have not read up to this message (COUP.md §7.7). */
export function unreadBy(message: Message, cursors: Map<string, number>): number {
  let count = 0;
  for (const [userId, seq] of cursors) if (userId !== message.user.id && seq < message.seq) count += 1;
  return count;
}
