import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { chatRows, mergeMessages, unreadBy } from "./chat-cache";

const msg = (seq: number, userId = "a", at = "2025-03-01T01:00:00.000Z", content = `m${seq}`): Message => ({
  id: `m${seq}`, client_id: `c${seq}`, study_id: "s", seq, content, file: null, edited: false,
  user: { id: userId, name: userId, avatar: null }, created_at: at, updated_at: at,
});

describe("chat cache", () => {
  it("merges pages and live events by id, in seq order, newer copies winning", () => {
    const edited = { ...msg(2), content: "edited", updated_at: "2025-03-01T02:00:00.000Z" };
    const merged = mergeMessages([msg(3), msg(1)], [msg(2), edited, msg(3)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(merged[1]?.content).toBe("edited");
  });

  it("puts a day separator where the day changes in the platform time zone", () => {
    // 14:59Z and 15:00Z on 1 March are different days in Seoul (UTC+9), the same day in UTC.
    const messages = [msg(1, "a", "2025-03-01T14:59:00.000Z"), msg(2, "a", "2025-03-01T15:00:00.000Z")];
    expect(chatRows(messages, "Asia/Seoul").filter((row) => row.kind === "day")).toHaveLength(2);
    expect(chatRows(messages, "UTC").filter((row) => row.kind === "day")).toHaveLength(1);
  });

  it("shows the author once for a run of messages", () => {
    const rows = chatRows([msg(1, "a"), msg(2, "a"), msg(3, "b")], "Asia/Seoul");
    expect(rows.filter((row) => row.kind === "message" && row.showAuthor).map((row) => row.key)).toEqual(["m1", "m3"]);
  });

  it("counts the members other than the author whose cursor is below the message", () => {
    const cursors = new Map([["a", 0], ["b", 5], ["c", 2]]);
    expect(unreadBy(msg(3, "a"), cursors)).toBe(1);
    expect(unreadBy(msg(6, "a"), cursors)).toBe(2);
  });
});
