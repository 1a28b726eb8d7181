import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { Button, useToast } from "../../components/ui";
import { api, type OffsetPagination } from "../../lib/api-client";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { useI18n } from "../../lib/i18n";
import { useRealtime } from "../../lib/realtime";
import type { Notification } from "../../lib/types";
import { notificationKeys } from "./api";
import { notificationLink } from "./links";

const COUNT_KEY = notificationKeys.count;
const LIST_KEY = notificationKeys.recent;

/** The header bell: live unread count, recent notifications, a toast for each new one. */
export function NotificationBell() {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const queryClient = useQueryClient();
  const client = useRealtime();
  const [open, setOpen] = useState(false);
  const wrapper = useRef<HTMLDivElement>(null);
  const count = useQuery({ queryKey: COUNT_KEY, queryFn: async () => (await api.get<{ unread: number }>("/api/notifications/count")).data.unread });
  const list = useQuery({
    queryKey: LIST_KEY, enabled: open,
    queryFn: async () => (await api.get<Notification[], OffsetPagination>("/api/notifications", { limit: 10 })).data,
  });
  const markAll = useMutation({
    mutationFn: async () => (await api.post<{ unread: number }>("/api/notifications/mark-all-read")).data,
    onSuccess: (data) => { queryClient.setQueryData(COUNT_KEY, data.unread); queryClient.invalidateQueries({ queryKey: LIST_KEY }); },
  });

  useEffect(() => {
    if (!client) return;
    const offs = [
      client.on("unreadCount", (unread) => queryClient.setQueryData(COUNT_KEY, unread)),
      client.on("notification", (raw) => {
        const notification = raw as unknown as Notification;
        queryClient.setQueryData<Notification[]>(LIST_KEY, (current) =>
          current ? [notification, ...current.filter((item) => item.id !== notification.id)].slice(0, 10) : current);
        // A re-pushed (coalesced) notification keeps its id and does not change the count.
        queryClient.invalidateQueries({ queryKey: COUNT_KEY });
        if (notification.type !== "CHAT") toast(notification.message);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [client, queryClient, toast]);

  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent | KeyboardEvent) => {
      if (event instanceof KeyboardEvent ? event.key === "Escape" : !wrapper.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => { document.removeEventListener("mousedown", close); document.removeEventListener("keydown", close); };
  }, [open]);

  const unread = count.data ?? 0;
  return (
    <div ref={wrapper}>
      <button type="button" className="btn btn-ghost icon-btn" aria-expanded={open} aria-controls="notification-panel"
        onClick={() => setOpen(!open)}>
        {/* The name is this hidden text, not an aria-label: the visible count stays part of it. */}
        <span className="visually-hidden">{unread ? t("notif.openUnread", { count: unread }) : t("notif.open")}</span>
        <span aria-hidden="true">🔔</span>
        {unread > 0 && <span className="count-badge" data-testid="unread-count" aria-hidden="true">{unread > 99 ? "99+" : unread}</span>}
      </button>
      {open && (
        <div className="popover" id="notification-panel" role="region" aria-label={t("notif.title")}>
          <div className="row-between popover-head">
            <h2>{t("notif.title")}</h2>
            <Button size="s" variant="ghost" onClick={() => markAll.mutate()} disabled={unread === 0}>{t("notif.markAll")}</Button>
          </div>
          {list.data?.length ? (
            <ul className="plain-list">
              {list.data.map((item) => (
                <li key={item.id} className={item.is_read ? "notif" : "notif notif-unread"}>
                  <Link to={notificationLink(item) ?? "/notifications"} onClick={() => setOpen(false)}>
                    <span aria-hidden="true">{item.study_emoji ?? "🔔"}</span>
                    <span className="grow">
                      {!item.is_read && <span className="visually-hidden">{t("notif.unread")}: </span>}
                      {item.message}
                      <span className="muted small notif-time">{formatDateTime(item.created_at, language, timeZone)}</span>
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          ) : <p className="muted popover-empty">{list.isPending ? t("app.loading") : t("notif.empty")}</p>}
          <Link className="popover-foot" to="/notifications" onClick={() => setOpen(false)}>{t("notifs.seeAll")}</Link>
        </div>
      )}
    </div>
  );
}
