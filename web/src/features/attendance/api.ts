import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api-client";
import type { UserSummary } from "../../lib/types";

export interface AttendanceDay {
  date: string;
  checked_in: { user: UserSummary; checked_in_at: string; streak: number }[];
  checked_in_count: number; member_count: number;
  me: { checked_in_today: boolean; current_streak: number; longest_streak: number; total_days: number };
}
export interface AttendanceStat {
  user: UserSummary; days_attended: number; eligible_days: number; attendance_rate: number;
  current_streak: number; longest_streak: number;
}

export const attendanceKeys = {
  all: (studyId: string) => ["attendance", studyId] as const,
  day: (studyId: string, date: string) => ["attendance", studyId, "day", date] as const,
  stats: (studyId: string) => ["attendance", studyId, "stats"] as const,
};

// Check-ins produce no room event (COUP.md §9.2), so today's list is polled while it is shown.
export const ATTENDANCE_POLL_MS = 5_000;

export function useAttendanceDay(studyId: string, date: string, poll = true) {
  return useQuery({
    queryKey: attendanceKeys.day(studyId, date),
    queryFn: async () => (await api.get<AttendanceDay>(`/api/studies/${studyId}/attendance`, { date })).data,
    refetchInterval: poll ? ATTENDANCE_POLL_MS : false,
    placeholderData: (previous) => previous,
  });
}

export function useAttendanceStats(studyId: string) {
  return useQuery({
    queryKey: attendanceKeys.stats(studyId),
    queryFn: async () => (await api.get<AttendanceStat[]>(`/api/studies/${studyId}/attendance/stats`)).data,
  });
}

export function useCheckIn(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async () => (await api.post<{ results: { streak: number; already_checked_in: boolean }[] }>(
      "/api/attendance/check-in", { study_id: studyId })).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: attendanceKeys.all(studyId) }),
  });
}
