import type { ReactNode } from "react";

export function EmptyState({ icon, title, body, action }: { icon?: string; title: string; body?: string; action?: ReactNode }) {
  return (
    <div className="empty">
      {icon && <div className="empty-icon" aria-hidden="true">{icon}</div>}
      <h2>{title}</h2>
      {body && <p>{body}</p>}
      {action}
    </div>
  );
}
