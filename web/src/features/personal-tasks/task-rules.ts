// Small rules of the personal task list (COUP.md §7.12), kept out of the page so they are tested.
export const TASK_STATUSES = ["TODO", "IN_PROGRESS", "REVIEW", "DONE", "CANCELLED"] as const;
export const PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];

/** Due dates are wall-clock days in the platform zone, so "YYYY-MM-DD" strings compare as days. */
export function dueState(dueDate: string | null, today: string, completed: boolean): "none" | "overdue" | "today" | "upcoming" {
  if (!dueDate || completed) return "none";
  if (dueDate < today) return "overdue";
  return dueDate === today ? "today" : "upcoming";
}

/** A full edit (PATCH) body: only what changed, with "" meaning "clear" for the optional fields. */
export function changedFields<T extends object>(before: T, after: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(after) as (keyof T)[]) {
    if (after[key] !== before[key]) out[key] = (after[key] === "" ? null : after[key]) as T[keyof T];
  }
  return out;
}
