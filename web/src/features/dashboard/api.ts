// The dashboard's REST calls (COUP.md §7.15, plus the personal task list for the tasks widget).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, type OffsetPagination } from "../../lib/api-client";
import { useRealtime } from "../../lib/realtime";
import type { Notification } from "../../lib/types";
import type { Widget } from "./widget-layout";

export interface DashboardHome {
  stats: { active_studies: number; pending_tasks: number; unread_notifications: number; completed_this_month: number } | null;
  my_studies: { id: string; name: string; emoji: string; category: string; role: string; member_count: number; joined_at: string }[] | null;
  recent_activities: Notification[] | null;
  attendance: { checked_in_today: number; total_studies: number } | null;
  failed_sections: string[];
}
export interface Activity { id: string; type: string; message: string; study: { id: string; name: string; emoji: string } | null; is_read: boolean; created_at: string }
export interface Schedule {
  id: string; title: string; date: string; start_time: string; end_time: string; starts_at: string; location: string | null;
  color: string; study_id: string; study: { id: string; name: string; emoji: string };
}
export interface TaskItem { id: string; title: string; status: string; priority: string; due_date: string | null; completed: boolean; study: { id: string; name: string; emoji: string } | null }
export interface TaskStats { summary: { total: number; completed: number; pending: number; completion_rate: number }; timeline: { today: number; this_week: number; this_month: number; overdue: number } }
export interface ActivityStats { series: { bucket: string; notifications: number; messages_sent: number; tasks_completed: number; check_ins: number }[] }

const key = (...rest: unknown[]) => ["dashboard", ...rest] as const;

export function useDashboard() {
  return useQuery({ queryKey: key("home"), queryFn: async () => (await api.get<DashboardHome>("/api/dashboard")).data });
}

export function useWidgets() {
  return useQuery({ queryKey: key("widgets"), queryFn: async () => (await api.get<{ widgets: Widget[]; is_default: boolean }>("/api/dashboard/widgets")).data });
}

export function useSaveWidgets() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { widgets: Widget[] } | { reset: true }) =>
      (await api.patch<{ widgets: Widget[]; is_default: boolean }>("/api/dashboard/widgets", body)).data,
    onSuccess: (data) => queryClient.setQueryData(key("widgets"), data),
  });
}

export function useUpcoming(enabled: boolean) {
  return useQuery({
    queryKey: key("upcoming"), enabled,
    queryFn: async () => (await api.get<{ events: Schedule[]; count: number }>("/api/dashboard/upcoming-schedules", { days: 7, limit: 6 })).data,
  });
}

export function useRecentActivities(enabled: boolean) {
  return useQuery({
    queryKey: key("activities"), enabled,
    queryFn: async () => (await api.get<Activity[], OffsetPagination>("/api/dashboard/recent-activities", { limit: 8 })).data,
  });
}

export function useUnreadNotifications(enabled: boolean) {
  return useQuery({
    queryKey: key("unread"), enabled,
    queryFn: async () => (await api.get<Notification[], OffsetPagination>("/api/notifications", { is_read: false, limit: 5 })).data,
  });
}

export function useOpenTasks(enabled: boolean) {
  return useQuery({
    queryKey: key("tasks"), enabled,
    queryFn: async () => (await api.get<TaskItem[], OffsetPagination>("/api/tasks", { status: "incomplete", sort_by: "deadline", limit: 5 })).data,
  });
}

export function useTaskStats(enabled: boolean) {
  return useQuery({ queryKey: key("task-stats"), enabled, queryFn: async () => (await api.get<TaskStats>("/api/tasks/stats")).data });
}

export function useActivityStats(enabled: boolean) {
  return useQuery({
    queryKey: key("activity-week"), enabled,
    queryFn: async () => (await api.get<ActivityStats>("/api/dashboard/statistics", { type: "ACTIVITY", period: "THIS_WEEK", aggregation: "DAY" })).data,
  });
}

/** A notification changes the counts, the activity stream and maybe the schedule (EVENT). */
export function useDashboardLive() {
  const client = useRealtime();
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!client) return;
    return client.on("notification", () => queryClient.invalidateQueries({ queryKey: ["dashboard"] }));
  }, [client, queryClient]);
}
