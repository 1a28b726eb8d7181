import { describe, expect, it } from "vitest";
import { monthGrid, overlapping, readableText, shiftMonth } from "./month-grid";

describe("month grid", () => {
  it("covers whole weeks from Sunday", () => {
    const weeks = monthGrid("2030-06"); // 1 June 2030 is a Saturday
    expect(weeks).toHaveLength(6);
    expect(weeks[0]![0]).toEqual({ date: "2030-05-26", inMonth: false });
    expect(weeks[0]![6]).toEqual({ date: "2030-06-01", inMonth: true });
    expect(weeks[5]![0]).toEqual({ date: "2030-06-30", inMonth: true });
    expect(weeks[5]![6]).toEqual({ date: "2030-07-06", inMonth: false });
  });

  it("fits February of a common year starting on Sunday in four rows", () => {
    const weeks = monthGrid("2026-02");
    expect(weeks).toHaveLength(4);
    expect(weeks[0]![0]!.date).toBe("2026-02-01");
    expect(weeks[3]![6]!.date).toBe("2026-02-28");
  });

  it("handles leap years and year boundaries", () => {
    expect(monthGrid("2028-02").flat().filter((day) => day.inMonth)).toHaveLength(29);
    expect(shiftMonth("2030-12", 1)).toBe("2031-01");
    expect(shiftMonth("2030-01", -1)).toBe("2029-12");
  });
});

describe("overlap detection", () => {
  const events = [
    { id: "a", title: "A", date: "2030-06-01", start_time: "10:00", end_time: "11:00" },
    { id: "b", title: "B", date: "2030-06-01", start_time: "13:00", end_time: "14:00" },
    { id: "c", title: "C", date: "2030-06-02", start_time: "10:00", end_time: "11:00" },
  ];
  it("finds events on the same date with overlapping times", () => {
    expect(overlapping(events, "2030-06-01", "10:30", "13:30").map((e) => e.id)).toEqual(["a", "b"]);
    expect(overlapping(events, "2030-06-01", "11:00", "13:00")).toEqual([]); // touching is fine
    expect(overlapping(events, "2030-06-01", "09:00", "10:01").map((e) => e.id)).toEqual(["a"]);
  });
  it("ignores the event being edited and empty ranges", () => {
    expect(overlapping(events, "2030-06-01", "10:00", "11:00", "a")).toEqual([]);
    expect(overlapping(events, "2030-06-01", "12:00", "11:00")).toEqual([]);
  });
});

describe("event chip text", () => {
  it("picks the colour with the higher contrast", () => {
    expect(readableText("#6366F1")).toBe("#000000"); // white would be 4.47:1
    expect(readableText("#4338CA")).toBe("#ffffff");
    expect(readableText("#10B981")).toBe("#000000");
    expect(readableText("#EC4899")).toBe("#000000");
    expect(readableText("#1E293B")).toBe("#ffffff");
    expect(readableText("#FDE047")).toBe("#000000");
  });
});
