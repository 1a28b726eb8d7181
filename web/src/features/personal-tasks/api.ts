// Personal tasks (COUP.md §7.12): private to their owner, so no realtime events touch them.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";
import type { Priority, TaskStatus } from "./task-rules";

export interface PersonalTask {
  id: string; title: string; description: string | null; status: TaskStatus; priority: Priority; due_date: string | null;
  completed: boolean; completed_at: string | null; study: { id: string; name: string; emoji: string } | null; created_at: string;
}
export interface TaskFilters { status: string; sort_by: string; study_id: string }
export interface TaskInput { title: string; description: string | null; priority: Priority; due_date: string | null; study_id: string | null }
interface Stats { summary: { total: number; completed: number; pending: number; completion_rate: number }; timeline: { today: number; this_week: number; overdue: number } }

export function useTasks(filters: TaskFilters) {
  return useInfiniteQuery({
    queryKey: ["tasks", "list", filters],
    initialPageParam: 1,
    queryFn: ({ pageParam, signal }) => api.get<PersonalTask[], OffsetPagination>("/api/tasks", { ...filters, page: pageParam, limit: 20 }, signal),
    getNextPageParam: (last) => (last.pagination.has_next ? last.pagination.page + 1 : undefined),
  });
}

export function useTaskStats() {
  return useQuery({ queryKey: ["tasks", "stats"], queryFn: async () => (await api.get<Stats>("/api/tasks/stats")).data });
}

export function useMyActiveStudies() {
  return useQuery({
    queryKey: ["my-studies", "active"],
    queryFn: async () => (await api.get<{ study: { id: string; name: string; emoji: string } }[], OffsetPagination>("/api/my-studies", { filter: "active", limit: 50 })).data
      .map((row) => row.study),
  });
}

function useInvalidate() {
  const queryClient = useQueryClient();
  return () => {
    queryClient.invalidateQueries({ queryKey: ["tasks"] });
    queryClient.invalidateQueries({ queryKey: ["dashboard"] });
  };
}

export function useCreateTask() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: async (body: TaskInput) => (await api.post<PersonalTask>("/api/tasks", body)).data, onSuccess: invalidate });
}

export function useUpdateTask() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: async ({ id, body }: { id: string; body: Record<string, unknown> }) => (await api.patch<PersonalTask>(`/api/tasks/${id}`, body)).data,
    onSuccess: invalidate,
  });
}

export function useToggleTask() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: async (id: string) => (await api.patch<PersonalTask>(`/api/tasks/${id}/toggle`, {})).data, onSuccess: invalidate });
}

export function useDeleteTask() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (id: string) => api.delete(`/api/tasks/${id}`), onSuccess: invalidate });
}
