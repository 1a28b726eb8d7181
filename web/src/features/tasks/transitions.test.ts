import { describe, expect, it } from "vitest";
import { allowedTargets, canMove, columns } from "./transitions";

describe("task transitions", () => {
  it("follows the COUP.md table", () => {
    expect(allowedTargets("TODO")).toEqual(["IN_PROGRESS", "CANCELLED"]);
    expect(canMove("TODO", "DONE")).toBe(false);
    expect(canMove("TODO", "REVIEW")).toBe(false);
    expect(canMove("IN_PROGRESS", "DONE")).toBe(true);
    expect(canMove("REVIEW", "CANCELLED")).toBe(false);
    expect(canMove("DONE", "TODO")).toBe(true);
    expect(canMove("DONE", "IN_PROGRESS")).toBe(false);
    expect(canMove("CANCELLED", "TODO")).toBe(true);
    expect(canMove("CANCELLED", "IN_PROGRESS")).toBe(false);
  });

  it("always allows staying put", () => {
    for (const status of ["TODO", "IN_PROGRESS", "REVIEW", "DONE", "CANCELLED"] as const) {
      expect(canMove(status, status)).toBe(true);
    }
  });

  it("groups and orders tasks per column", () => {
    const task = (id: string, status: "TODO" | "DONE", priority: "LOW" | "URGENT", due: string | null) =>
      ({ id, status, priority, due_date: due, created_at: `2030-01-0${id}T00:00:00Z` });
    const grouped = columns([task("1", "TODO", "LOW", null), task("2", "TODO", "URGENT", null),
      task("3", "TODO", "LOW", "2030-02-01"), task("4", "DONE", "LOW", null)]);
    expect(grouped.TODO.map((t) => t.id)).toEqual(["2", "3", "1"]);
    expect(grouped.DONE.map((t) => t.id)).toEqual(["4"]);
    expect(grouped.REVIEW).toEqual([]);
  });
});
