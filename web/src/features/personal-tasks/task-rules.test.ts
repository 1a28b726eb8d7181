import { describe, expect, it } from "vitest";
import { changedFields, dueState } from "./task-rules";

describe("dueState", () => {
  it("compares wall-clock days", () => {
    expect(dueState("2025-03-01", "2025-03-02", false)).toBe("overdue");
    expect(dueState("2025-03-02", "2025-03-02", false)).toBe("today");
    expect(dueState("2025-12-31", "2025-03-02", false)).toBe("upcoming");
  });
  it("says nothing for done tasks or tasks without a date", () => {
    expect(dueState("2025-03-01", "2025-03-02", true)).toBe("none");
    expect(dueState(null, "2025-03-02", false)).toBe("none");
  });
});

describe("changedFields", () => {
  it("sends only the changes and clears emptied optional fields", () => {
    const before = { title: "a", description: "x", due_date: "2025-01-01", priority: "LOW" };
    const after = { title: "a", description: "", due_date: "2025-01-02", priority: "LOW" };
    expect(changedFields(before, after)).toEqual({ description: null, due_date: "2025-01-02" });
  });
});
