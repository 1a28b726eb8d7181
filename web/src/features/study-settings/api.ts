import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api-client";
import type { Study, UserSummary } from "../../lib/types";

export interface Category { value: string; label_en: string; sub_categories: { value: string; label_en: string }[] }
export interface Invite {
  study_id: string; study_name: string; invite_code: string; invite_url: string; expires_at: string;
  max_uses: number; used_count: number; available_slots: number; state: "active" | "expired" | "exhausted";
  created_at: string; created_by: UserSummary;
}
export interface StudyPatch {
  name: string; emoji: string; description: string; category: string; sub_category: string | null;
  tags: string[]; max_members: number; is_public: boolean; auto_approve: boolean; is_recruiting: boolean;
}

export const settingsKeys = {
  invite: (studyId: string) => ["invite", studyId] as const,
  // The studies feature's keys: one cache entry for the study and the category list.
  study: (studyId: string) => ["study", studyId] as const,
  categories: ["categories"] as const,
};

export function useCategories() {
  return useQuery({
    queryKey: settingsKeys.categories,
    queryFn: async () => (await api.get<Category[]>("/api/studies/categories")).data,
    staleTime: Infinity,
  });
}

export function useUpdateStudy(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: Partial<StudyPatch>) => (await api.patch<Study>(`/api/studies/${studyId}`, body)).data,
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: settingsKeys.study(studyId) });
      queryClient.invalidateQueries({ queryKey: ["my-studies"] });
      queryClient.invalidateQueries({ queryKey: ["studies"] });
    },
  });
}

export function useDeleteStudy(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => api.delete(`/api/studies/${studyId}`),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: settingsKeys.study(studyId) });
      queryClient.invalidateQueries({ queryKey: ["my-studies"] });
      queryClient.invalidateQueries({ queryKey: ["studies"] });
    },
  });
}

export function useInvite(studyId: string) {
  return useQuery({
    queryKey: settingsKeys.invite(studyId),
    queryFn: async () => (await api.get<Invite | null>(`/api/studies/${studyId}/invite`)).data,
  });
}

export type InviteAction = { kind: "create" | "regenerate"; expires_in_hours: number; max_uses: number } | { kind: "revoke" };

export function useInviteAction(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (action: InviteAction) => {
      if (action.kind === "revoke") { await api.delete(`/api/studies/${studyId}/invite`); return null; }
      const body = { expires_in_hours: action.expires_in_hours, max_uses: action.max_uses };
      const path = action.kind === "create" ? `/api/studies/${studyId}/invite` : `/api/studies/${studyId}/invite/regenerate`;
      return (await api.post<Invite>(path, body)).data;
    },
    onSuccess: (invite) => queryClient.setQueryData(settingsKeys.invite(studyId), invite),
  });
}
