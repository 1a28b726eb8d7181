// The notification centre's REST calls and cache keys (COUP.md §7.14).
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, type OffsetPagination } from "../../lib/api-client";
import { useRealtime } from "../../lib/realtime";
import type { Notification } from "../../lib/types";

export const notificationKeys = {
  all: ["notifications"] as const,
  count: ["notifications", "count"] as const,
  recent: ["notifications", "recent"] as const,
  list: (filters: NotificationFilters) => ["notifications", "list", filters] as const,
};

export interface NotificationFilters { read: "all" | "unread" | "read"; type: string }
const PAGE_SIZE = 20;

export function useNotificationList(filters: NotificationFilters) {
  return useInfiniteQuery({
    queryKey: notificationKeys.list(filters),
    initialPageParam: 1,
    queryFn: ({ pageParam, signal }) => api.get<Notification[], OffsetPagination>("/api/notifications", {
      page: pageParam, limit: PAGE_SIZE, type: filters.type,
      is_read: filters.read === "all" ? undefined : filters.read === "read",
    }, signal),
    getNextPageParam: (last) => (last.pagination.has_next ? last.pagination.page + 1 : undefined),
  });
}

/** Every read-state change answers with the new unread count: the bell takes it at once. */
function useAfterChange() {
  const queryClient = useQueryClient();
  return (unread: number) => {
    queryClient.setQueryData(notificationKeys.count, unread);
    queryClient.invalidateQueries({ queryKey: ["notifications", "list"] });
    queryClient.invalidateQueries({ queryKey: notificationKeys.recent });
    queryClient.invalidateQueries({ queryKey: ["dashboard"] });
  };
}

export function useMarkRead() {
  const after = useAfterChange();
  return useMutation({
    mutationFn: async (id: string) => (await api.post<{ unread: number }>(`/api/notifications/${id}/read`)).data,
    onSuccess: (data) => after(data.unread),
  });
}

export function useMarkAllRead() {
  const after = useAfterChange();
  return useMutation({
    mutationFn: async () => (await api.post<{ count: number; unread: number }>("/api/notifications/mark-all-read")).data,
    onSuccess: (data) => after(data.unread),
  });
}

export function useDeleteNotifications() {
  const after = useAfterChange();
  return useMutation({
    mutationFn: async (ids: string[]) =>
      (await api.delete<{ deleted: number; not_found: string[]; unread: number }>("/api/notifications/bulk", { ids })).data,
    onSuccess: (data) => after(data.unread),
  });
}

/** New notifications and read-state changes made elsewhere (another tab, the room) refresh the list. */
export function useNotificationsLive() {
  const client = useRealtime();
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!client) return;
    const refresh = () => queryClient.invalidateQueries({ queryKey: ["notifications", "list"] });
    const offs = [client.on("notification", refresh), client.on("unreadCount", refresh)];
    return () => offs.forEach((off) => off());
  }, [client, queryClient]);
}
