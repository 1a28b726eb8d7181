import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api-client";
import type { UserSummary } from "../../lib/types";

export interface CalendarEvent {
  id: string; study_id: string; title: string; description: string | null; date: string;
  start_time: string; end_time: string; starts_at: string; ends_at: string; location: string | null;
  color: string; created_by: UserSummary; created_at: string; updated_at: string;
}
export interface EventInput {
  title: string; description: string; date: string; start_time: string; end_time: string;
  location: string; color: string;
}
export type SavedEvent = CalendarEvent & { overlaps: { id: string; title: string }[]; warning: string | null };

export const calendarKeys = {
  all: (studyId: string) => ["calendar", studyId] as const,
  month: (studyId: string, month: string) => ["calendar", studyId, "month", month] as const,
};

export function useMonthEvents(studyId: string, month: string) {
  return useQuery({
    queryKey: calendarKeys.month(studyId, month),
    queryFn: async () => (await api.get<CalendarEvent[]>(`/api/studies/${studyId}/calendar`, { month })).data,
    placeholderData: (previous) => previous,
  });
}

export function useSaveEvent(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, body }: { id?: string; body: Partial<EventInput> }) => (id
      ? await api.patch<SavedEvent>(`/api/studies/${studyId}/calendar/${id}`, body)
      : await api.post<SavedEvent>(`/api/studies/${studyId}/calendar`, body)).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: calendarKeys.all(studyId) }),
  });
}

export function useDeleteEvent(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/studies/${studyId}/calendar/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: calendarKeys.all(studyId) }),
  });
}
