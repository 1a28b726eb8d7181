import { describe, expect, it } from "vitest";
import { notificationLink } from "./links";

const base = { study_id: "s1", data: {} };

describe("notificationLink", () => {
  it("opens the room tab the notification is about", () => {
    expect(notificationLink({ ...base, type: "NOTICE" })).toBe("/studies/s1/room/notices");
    expect(notificationLink({ ...base, type: "FILE" })).toBe("/studies/s1/room/files");
    expect(notificationLink({ ...base, type: "EVENT" })).toBe("/studies/s1/room/calendar");
    expect(notificationLink({ ...base, type: "TASK" })).toBe("/studies/s1/room/tasks");
    expect(notificationLink({ ...base, type: "CHAT" })).toBe("/studies/s1/room");
    expect(notificationLink({ ...base, type: "JOIN_APPROVED" })).toBe("/studies/s1/room");
  });

  it("sends requests, rejections and kicks to the study page, which has no room for them", () => {
    expect(notificationLink({ ...base, type: "JOIN_REQUEST" })).toBe("/studies/s1");
    expect(notificationLink({ ...base, type: "JOIN_REJECTED" })).toBe("/studies/s1");
    expect(notificationLink({ ...base, type: "KICK" })).toBe("/studies/s1");
  });

  it("sends report outcomes to my reports and account notices nowhere", () => {
    expect(notificationLink({ type: "ADMIN", study_id: null, data: { kind: "report_resolved" } })).toBe("/reports");
    expect(notificationLink({ type: "ADMIN", study_id: null, data: { kind: "warning" } })).toBeNull();
    expect(notificationLink({ type: "ADMIN", study_id: "s1", data: { kind: "study_deleted" } })).toBeNull();
    expect(notificationLink({ type: "ADMIN", study_id: "s1", data: { kind: "study_hidden" } })).toBe("/studies/s1");
  });
});
