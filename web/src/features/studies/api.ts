import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, type OffsetPagination } from "../../lib/api-client";
import { useRealtime } from "../../lib/realtime";
import type { Member, Study, StudySummary } from "../../lib/types";

export interface ExploreFilters { search: string; category: string; recruiting: string; sort: string }
export interface Category { value: string; label_en: string; sub_categories: { value: string; label_en: string }[] }

const PAGE_SIZE = 12;

export const studyKeys = {
  explore: (filters: ExploreFilters) => ["studies", "explore", filters] as const,
  detail: (id: string) => ["study", id] as const,
  requests: (id: string) => ["join-requests", id] as const,
  categories: ["categories"] as const,
};

export function useExplore(filters: ExploreFilters) {
  return useInfiniteQuery({
    queryKey: studyKeys.explore(filters),
    initialPageParam: 1,
    queryFn: async ({ pageParam, signal }) => api.get<StudySummary[], OffsetPagination>("/api/studies", {
      page: pageParam, limit: PAGE_SIZE, search: filters.search.trim(), category: filters.category,
      recruiting: filters.recruiting, sort: filters.sort,
    }, signal),
    getNextPageParam: (last) => (last.pagination.has_next ? last.pagination.page + 1 : undefined),
  });
}

export function useCategories() {
  return useQuery({
    queryKey: studyKeys.categories,
    queryFn: async () => (await api.get<Category[]>("/api/studies/categories")).data,
    staleTime: Infinity,
  });
}

export function useStudy(id: string) {
  return useQuery({
    queryKey: studyKeys.detail(id),
    queryFn: async () => (await api.get<Study>(`/api/studies/${id}`)).data,
  });
}

function useInvalidateStudy(id: string) {
  const queryClient = useQueryClient();
  return () => {
    queryClient.invalidateQueries({ queryKey: studyKeys.detail(id) });
    queryClient.invalidateQueries({ queryKey: studyKeys.requests(id) });
    queryClient.invalidateQueries({ queryKey: ["my-studies"] });
  };
}

export function useJoin(id: string) {
  const invalidate = useInvalidateStudy(id);
  return useMutation({
    mutationFn: async (body: { introduction?: string; motivation?: string; level?: string }) =>
      (await api.post<{ member: Member; auto_approved: boolean }>(`/api/studies/${id}/join`, body)).data,
    onSuccess: invalidate,
  });
}

export function useLeave(id: string) {
  const invalidate = useInvalidateStudy(id);
  return useMutation({ mutationFn: () => api.post(`/api/studies/${id}/leave`), onSuccess: invalidate });
}

export interface NewStudy {
  name: string; emoji: string; description: string; category: string; sub_category: string | null;
  tags: string[]; max_members: number; is_public: boolean; auto_approve: boolean;
}

export function useCreateStudy() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewStudy) => (await api.post<Study>("/api/studies", body)).data,
    onSuccess: (study) => {
      queryClient.setQueryData(studyKeys.detail(study.id), { ...study, members: [], pending_requests: 0 });
      queryClient.invalidateQueries({ queryKey: ["studies"] });
      queryClient.invalidateQueries({ queryKey: ["my-studies"] });
    },
  });
}

const MEMBERSHIP_NOTIFICATIONS = new Set(["JOIN_REQUEST", "JOIN_APPROVED", "JOIN_REJECTED", "MEMBER", "KICK", "ROLE_CHANGE"]);

/** Keep a study's page live: room events (members, study edits) and membership notifications. */
export function useStudyLive(id: string, isMember: boolean) {
  const client = useRealtime();
  const invalidate = useInvalidateStudy(id);
  useEffect(() => {
    if (!client) return;
    const offs = [
      client.on("notification", (notification) => {
        if (notification.study_id === id && MEMBERSHIP_NOTIFICATIONS.has(String(notification.type))) invalidate();
      }),
      client.on("studyEvent", (event) => {
        if (event.studyId === id && event.event.startsWith("study:")) invalidate();
      }),
      client.on("removed", (event) => { if (event.studyId === id) invalidate(); }),
    ];
    const release = isMember ? client.subscribe(id) : null;
    return () => { offs.forEach((off) => off()); release?.(); };
    // invalidate is rebuilt each render but only closes over id and the query client
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, id, isMember]);
}
