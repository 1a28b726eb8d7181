// The dashboard's widget layout (COUP.md §7.15): ordering, moving, showing and hiding widgets.
export type WidgetType = "STATISTICS" | "STUDY_LIST" | "TASK_LIST" | "NOTIFICATION_LIST" | "UPCOMING_SCHEDULES"
  | "RECENT_ACTIVITIES" | "TASK_STATISTICS" | "PROGRESS_CHART";
export type WidgetSize = "small" | "medium" | "large";
export interface Widget { id: string; type: WidgetType; title: string; position: number; visible: boolean; size: WidgetSize }

/** Every widget type once, with the id a new one gets; the default six come first (server order). */
export const WIDGET_CATALOGUE: { id: string; type: WidgetType; title: string }[] = [
  { id: "statistics", type: "STATISTICS", title: "통계" },
  { id: "my-studies", type: "STUDY_LIST", title: "내 스터디" },
  { id: "tasks", type: "TASK_LIST", title: "할 일" },
  { id: "notifications", type: "NOTIFICATION_LIST", title: "알림" },
  { id: "upcoming", type: "UPCOMING_SCHEDULES", title: "다가오는 일정" },
  { id: "recent-activities", type: "RECENT_ACTIVITIES", title: "최근 활동" },
  { id: "task-statistics", type: "TASK_STATISTICS", title: "할 일 통계" },
  { id: "progress-chart", type: "PROGRESS_CHART", title: "이번 주 활동" },
];

/** The server caps positions at 10, so at most 11 widgets fit in a layout. */
export const MAX_WIDGETS = 11;

export function sortByPosition(widgets: Widget[]): Widget[] {
  return [...widgets].sort((a, b) => a.position - b.position);
}

/** The layout for editing: the saved widgets in order, then every type not in it yet, hidden. */
export function withAvailable(widgets: Widget[]): Widget[] {
  const sorted = sortByPosition(widgets);
  const present = new Set(sorted.map((widget) => widget.type));
  const extra = WIDGET_CATALOGUE.filter((entry) => !present.has(entry.type) && !sorted.some((widget) => widget.id === entry.id))
    .map((entry) => ({ ...entry, visible: false, size: "medium" as const, position: 0 }));
  return renumber([...sorted, ...extra].slice(0, MAX_WIDGETS));
}

/** Moves a widget `delta` places (−1 up, +1 down) and keeps positions 0..n−1. */
export function moveWidget(widgets: Widget[], id: string, delta: number): Widget[] {
  const list = sortByPosition(widgets);
  const from = list.findIndex((widget) => widget.id === id);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= list.length) return renumber(list);
  const [moved] = list.splice(from, 1);
  list.splice(to, 0, moved!);
  return renumber(list);
}

export function updateWidget(widgets: Widget[], id: string, change: Partial<Pick<Widget, "visible" | "size">>): Widget[] {
  return widgets.map((widget) => (widget.id === id ? { ...widget, ...change } : widget));
}

export function renumber(widgets: Widget[]): Widget[] {
  return widgets.map((widget, position) => ({ ...widget, position }));
}

/** What the dashboard draws: visible widgets in position order. */
export function visibleWidgets(widgets: Widget[]): Widget[] {
  return sortByPosition(widgets).filter((widget) => widget.visible);
}
