// Reports a person files (COUP.md §7.17); the outcome arrives as an ADMIN notification.
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";

export type TargetType = "USER" | "STUDY" | "MESSAGE";
export const REPORT_TYPES = ["SPAM", "HARASSMENT", "INAPPROPRIATE", "COPYRIGHT", "OTHER"] as const;
export interface MyReport {
  id: string; target_type: TargetType; target_id: string; target_name: string | null; type: string;
  status: "PENDING" | "IN_PROGRESS" | "RESOLVED" | "REJECTED"; created_at: string; processed_at: string | null;
}
export interface NewReport { target_type: TargetType; target_id: string; type: string; reason: string; evidence?: { note?: string; urls?: string[] } }

export function useMyReports() {
  return useInfiniteQuery({
    queryKey: ["reports", "mine"],
    initialPageParam: 1,
    queryFn: ({ pageParam, signal }) => api.get<MyReport[], OffsetPagination>("/api/reports/mine", { page: pageParam, limit: 20 }, signal),
    getNextPageParam: (last) => (last.pagination.has_next ? last.pagination.page + 1 : undefined),
  });
}

export function useFileReport() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewReport) => (await api.post<MyReport>("/api/reports", body)).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["reports"] }),
  });
}
