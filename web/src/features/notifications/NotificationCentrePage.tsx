import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { Button, Card, Checkbox, EmptyState, SelectField, Skeleton, Tabs, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Notification } from "../../lib/types";
import { useDeleteNotifications, useMarkAllRead, useMarkRead, useNotificationList, useNotificationsLive, type NotificationFilters } from "./api";
import { NOTIFICATION_TYPES, notificationLink } from "./links";
import "../../styles/pages.css";

/** The notification centre: filters, read state, mark all, bulk delete; live over /ws. */
export function NotificationCentrePage() {
  const { t } = useI18n();
  const toast = useToast();
  const confirm = useConfirm();
  const [filters, setFilters] = useState<NotificationFilters>({ read: "all", type: "" });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const list = useNotificationList(filters);
  const markAll = useMarkAllRead();
  const remove = useDeleteNotifications();
  useNotificationsLive();
  const items = list.data?.pages.flatMap((page) => page.data) ?? [];
  const total = list.data?.pages[0]?.pagination.total ?? 0;
  const visibleSelected = items.filter((item) => selected.has(item.id));
  const allSelected = items.length > 0 && visibleSelected.length === items.length;

  const toggle = (id: string, on: boolean) => setSelected((current) => {
    const next = new Set(current);
    if (on) next.add(id); else next.delete(id);
    return next;
  });
  const onDelete = async () => {
    const ids = visibleSelected.map((item) => item.id);
    if (!ids.length || !(await confirm(t("notifs.deleteConfirm", { count: ids.length }), { danger: true, confirmLabel: t("notifs.delete") }))) return;
    remove.mutate(ids, {
      onSuccess: (data) => { setSelected(new Set()); toast(t("notifs.deleted", { count: data.deleted })); },
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  const readTabs: { key: NotificationFilters["read"]; label: string }[] = [
    { key: "all", label: t("notifs.all") }, { key: "unread", label: t("notifs.unreadOnly") }, { key: "read", label: t("notifs.readOnly") },
  ];

  return (
    <div className="page page-medium">
      <div className="row-between">
        <h1>{t("notif.title")}</h1>
        <Button variant="secondary" size="s" busy={markAll.isPending}
          onClick={() => markAll.mutate(undefined, { onSuccess: (data) => toast(t("notifs.markedAll", { count: data.count })) })}>
          {t("notif.markAll")}
        </Button>
      </div>
      <Tabs label={t("notifs.readFilter")} items={readTabs} selected={filters.read} controls="notification-list"
        onSelect={(read) => { setFilters((current) => ({ ...current, read })); setSelected(new Set()); }} />
      <div className="toolbar">
        <SelectField label={t("notifs.type")} value={filters.type}
          onChange={(event) => { setFilters((current) => ({ ...current, type: event.target.value })); setSelected(new Set()); }}>
          <option value="">{t("notifs.allTypes")}</option>
          {NOTIFICATION_TYPES.map((type) => <option key={type} value={type}>{t(`notifs.type.${type}` as MessageKey)}</option>)}
        </SelectField>
        <div className="toolbar-actions">
          <Checkbox label={t("notifs.selectAll")} checked={allSelected} disabled={!items.length}
            onChange={(event) => setSelected(event.target.checked ? new Set(items.map((item) => item.id)) : new Set())} />
          <Button variant="danger" size="s" disabled={!visibleSelected.length} busy={remove.isPending} onClick={onDelete}>
            {t("notifs.deleteSelected", { count: visibleSelected.length })}
          </Button>
        </div>
      </div>
      <div id="notification-list" role="tabpanel" className="tab-panel">
        <p className="visually-hidden" aria-live="polite">{list.isSuccess ? t("notifs.count", { count: total }) : ""}</p>
        {list.isPending ? <Skeleton height={64} count={4} /> : list.isError ? (
          <EmptyState icon="⚠️" title={errorText(list.error, t)} action={<Button onClick={() => list.refetch()}>{t("app.retry")}</Button>} />
        ) : items.length === 0 ? (
          <EmptyState icon="🔕" title={t("notifs.emptyTitle")} body={t("notifs.emptyBody")} />
        ) : (
          <ul className="plain-list stack-s">
            {items.map((item) => (
              <NotificationRow key={item.id} item={item} selected={selected.has(item.id)} onSelect={(on) => toggle(item.id, on)} />
            ))}
          </ul>
        )}
        {list.hasNextPage && (
          <div className="load-more"><Button variant="secondary" busy={list.isFetchingNextPage} onClick={() => list.fetchNextPage()}>{t("studies.loadMore")}</Button></div>
        )}
      </div>
    </div>
  );
}

function NotificationRow({ item, selected, onSelect }: { item: Notification; selected: boolean; onSelect: (on: boolean) => void }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const navigate = useNavigate();
  const markRead = useMarkRead();
  const link = notificationLink(item);
  const open = () => {
    if (!item.is_read) markRead.mutate(item.id);
    if (link) navigate(link);
  };
  return (
    <li>
      <Card className={item.is_read ? "notif-row" : "notif-row notif-row-unread"} data-testid="notification">
        <input type="checkbox" className="notif-check" checked={selected} onChange={(event) => onSelect(event.target.checked)}
          aria-label={t("notifs.select", { message: item.message })} />
        <span className="notif-emoji" aria-hidden="true">{item.study_emoji ?? "🔔"}</span>
        <div className="grow stack-xs">
          <p className="notif-message">
            {!item.is_read && <span className="unread-dot" aria-hidden="true" />}
            {!item.is_read && <span className="visually-hidden">{t("notif.unread")}: </span>}
            {link ? <Link to={link} onClick={(event) => { event.preventDefault(); open(); }}>{item.message}</Link> : item.message}
          </p>
          <p className="muted small">
            {t(`notifs.type.${item.type}` as MessageKey)}{item.study_name ? ` · ${item.study_name}` : ""} · {formatDateTime(item.created_at, language, timeZone)}
          </p>
        </div>
        {!item.is_read && (
          <Button variant="ghost" size="s" busy={markRead.isPending} onClick={() => markRead.mutate(item.id)}
            aria-label={t("notifs.markReadOne", { message: item.message })}>
            {t("notifs.markRead")}
          </Button>
        )}
      </Card>
    </li>
  );
}
