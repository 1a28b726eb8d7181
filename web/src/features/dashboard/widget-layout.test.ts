import { describe, expect, it } from "vitest";
import { MAX_WIDGETS, moveWidget, updateWidget, visibleWidgets, withAvailable, type Widget } from "./widget-layout";

const widget = (id: string, position: number, visible = true): Widget =>
  ({ id, type: id === "a" ? "STATISTICS" : id === "b" ? "STUDY_LIST" : "TASK_LIST", title: id, position, visible, size: "medium" });

describe("widget layout", () => {
  it("moves a widget up and down and keeps positions dense", () => {
    const layout = [widget("a", 0), widget("b", 3), widget("c", 7)];
    const moved = moveWidget(layout, "c", -1);
    expect(moved.map((w) => [w.id, w.position])).toEqual([["a", 0], ["c", 1], ["b", 2]]);
    expect(moveWidget(moved, "a", -1).map((w) => w.id)).toEqual(["a", "c", "b"]);
    expect(moveWidget(moved, "b", 1).map((w) => w.id)).toEqual(["a", "c", "b"]);
  });

  it("offers the missing widget types hidden, after the saved ones, within the server's cap", () => {
    const editing = withAvailable([widget("b", 1), widget("a", 0)]);
    expect(editing.slice(0, 2).map((w) => w.id)).toEqual(["a", "b"]);
    expect(editing.length).toBe(8);
    expect(editing.slice(2).every((w) => !w.visible)).toBe(true);
    expect(new Set(editing.map((w) => w.type)).size).toBe(editing.length);
    expect(editing.map((w) => w.position)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(editing.length).toBeLessThanOrEqual(MAX_WIDGETS);
  });

  it("draws only the visible widgets, in order", () => {
    const layout = updateWidget([widget("a", 2), widget("b", 0), widget("c", 1)], "c", { visible: false });
    expect(visibleWidgets(layout).map((w) => w.id)).toEqual(["b", "a"]);
  });
});
