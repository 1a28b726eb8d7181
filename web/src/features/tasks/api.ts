import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";
import type { UserSummary } from "../../lib/types";
import type { Priority, TaskStatus } from "./transitions";

export interface StudyTask {
  id: string; study_id: string; title: string; description: string | null; status: TaskStatus;
  priority: Priority; due_date: string | null; completed_at: string | null; created_by: UserSummary;
  assignees: UserSummary[]; created_at: string; updated_at: string;
}
export interface TaskInput {
  title: string; description: string; priority: Priority; due_date: string | null; assignee_ids: string[];
  status?: TaskStatus;
}

export const taskKeys = {
  all: (studyId: string) => ["tasks", studyId] as const,
  board: (studyId: string) => ["tasks", studyId, "board"] as const,
};

const PAGE = 100;

/** Every task of the study (the board shows all columns), following the pages. */
export function useTasks(studyId: string) {
  return useQuery({
    queryKey: taskKeys.board(studyId),
    queryFn: async () => {
      const tasks: StudyTask[] = [];
      for (let page = 1; page <= 20; page += 1) {
        const result = await api.get<StudyTask[], OffsetPagination>(`/api/studies/${studyId}/tasks`, { page, limit: PAGE });
        tasks.push(...result.data);
        if (!result.pagination.has_next) break;
      }
      return tasks;
    },
  });
}

export function useSaveTask(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, body }: { id?: string; body: Partial<TaskInput> }) => (id
      ? await api.patch<StudyTask>(`/api/studies/${studyId}/tasks/${id}`, body)
      : await api.post<StudyTask>(`/api/studies/${studyId}/tasks`, body)).data,
    onSettled: () => queryClient.invalidateQueries({ queryKey: taskKeys.all(studyId) }),
  });
}

/** A status move, shown at once and undone if the server refuses it. */
export function useMoveTask(studyId: string) {
  const queryClient = useQueryClient();
  const key = taskKeys.board(studyId);
  return useMutation({
    mutationFn: async ({ id, status }: { id: string; status: TaskStatus }) =>
      (await api.patch<StudyTask>(`/api/studies/${studyId}/tasks/${id}/status`, { status })).data,
    onMutate: async ({ id, status }) => {
      await queryClient.cancelQueries({ queryKey: key });
      const before = queryClient.getQueryData<StudyTask[]>(key);
      queryClient.setQueryData<StudyTask[]>(key, (tasks) => tasks?.map((task) => (task.id === id ? { ...task, status } : task)));
      return { before };
    },
    onError: (_error, _vars, context) => { if (context?.before) queryClient.setQueryData(key, context.before); },
    onSuccess: (task) => queryClient.setQueryData<StudyTask[]>(key, (tasks) => tasks?.map((t) => (t.id === task.id ? task : t))),
    onSettled: () => queryClient.invalidateQueries({ queryKey: taskKeys.all(studyId) }),
  });
}

export function useDeleteTask(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/studies/${studyId}/tasks/${id}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: taskKeys.all(studyId) }),
  });
}
