// The study task status machine (COUP.md §7.11): the board offers only these moves.
export type TaskStatus = "TODO" | "IN_PROGRESS" | "REVIEW" | "DONE" | "CANCELLED";
export type Priority = "LOW" | "MEDIUM" | "HIGH" | "URGENT";

export const STATUSES: TaskStatus[] = ["TODO", "IN_PROGRESS", "REVIEW", "DONE", "CANCELLED"];
export const PRIORITIES: Priority[] = ["LOW", "MEDIUM", "HIGH", "URGENT"];

const ALLOWED: Record<TaskStatus, TaskStatus[]> = {
  TODO: ["IN_PROGRESS", "CANCELLED"],
  IN_PROGRESS: ["REVIEW", "DONE", "TODO", "CANCELLED"],
  REVIEW: ["DONE", "IN_PROGRESS", "TODO"],
  DONE: ["TODO"],
  CANCELLED: ["TODO"],
};

/** The statuses a task in `from` may move to (not including staying where it is). */
export function allowedTargets(from: TaskStatus): TaskStatus[] {
  return ALLOWED[from];
}

export function canMove(from: TaskStatus, to: TaskStatus): boolean {
  return from === to || ALLOWED[from].includes(to);
}

const PRIORITY_RANK: Record<Priority, number> = { URGENT: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };

/** Tasks grouped by column, each column in the server's order (priority, due date, newest). */
export function columns<T extends { status: TaskStatus; priority: Priority; due_date: string | null; created_at: string }>(
  tasks: T[]): Record<TaskStatus, T[]> {
  const result = Object.fromEntries(STATUSES.map((status) => [status, [] as T[]])) as Record<TaskStatus, T[]>;
  for (const task of tasks) result[task.status].push(task);
  for (const status of STATUSES) {
    result[status].sort((a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority]
      || (a.due_date ?? "9999").localeCompare(b.due_date ?? "9999")
      || b.created_at.localeCompare(a.created_at));
  }
  return result;
}
