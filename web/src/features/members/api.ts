import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";
import type { Member, MemberRole, UserSummary } from "../../lib/types";

export interface JoinRequest {
  user: UserSummary & { email: string; bio: string | null }; introduction: string | null;
  motivation: string | null; level: string | null; applied_at: string;
}

// ["study", id] and ["join-requests", id] are the studies feature's keys; the room's live hook
// and useStudyLive keep them fresh, so the tab shares them rather than holding copies.
export const memberKeys = {
  all: (studyId: string) => ["members", studyId] as const,
  list: (studyId: string) => ["members", studyId, "list"] as const,
  requests: (studyId: string) => ["join-requests", studyId] as const,
};

function useInvalidate(studyId: string) {
  const queryClient = useQueryClient();
  return () => {
    queryClient.invalidateQueries({ queryKey: memberKeys.all(studyId) });
    queryClient.invalidateQueries({ queryKey: ["study", studyId] });
    queryClient.invalidateQueries({ queryKey: memberKeys.requests(studyId) });
  };
}

export function useMembers(studyId: string) {
  return useQuery({
    queryKey: memberKeys.list(studyId),
    queryFn: async () => {
      const members: Member[] = [];
      for (let page = 1; page <= 10; page += 1) {
        const result = await api.get<Member[], OffsetPagination>(`/api/studies/${studyId}/members`, { page, limit: 100 });
        members.push(...result.data);
        if (!result.pagination.has_next) break;
      }
      return members;
    },
  });
}

export function useJoinRequests(studyId: string, enabled: boolean) {
  return useQuery({
    queryKey: memberKeys.requests(studyId),
    enabled,
    queryFn: async () => (await api.get<JoinRequest[], OffsetPagination>(`/api/studies/${studyId}/join-requests`, { limit: 50 })).data,
  });
}

export function useReview(studyId: string) {
  const invalidate = useInvalidate(studyId);
  return useMutation({
    mutationFn: ({ userId, approve, reason }: { userId: string; approve: boolean; reason?: string }) =>
      api.post(`/api/studies/${studyId}/join-requests/${userId}/${approve ? "approve" : "reject"}`,
        approve || !reason ? {} : { reason }),
    onSuccess: invalidate,
  });
}

export function useKick(studyId: string) {
  const invalidate = useInvalidate(studyId);
  return useMutation({
    mutationFn: ({ userId, reason }: { userId: string; reason: string }) =>
      api.delete(`/api/studies/${studyId}/members/${userId}`, reason ? { reason } : {}),
    onSuccess: invalidate,
  });
}

export function useChangeRole(studyId: string) {
  const invalidate = useInvalidate(studyId);
  return useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: Exclude<MemberRole, "OWNER"> }) =>
      api.patch(`/api/studies/${studyId}/members/${userId}/role`, { role }),
    onSuccess: invalidate,
  });
}

export function useTransferOwnership(studyId: string) {
  const invalidate = useInvalidate(studyId);
  return useMutation({
    mutationFn: (targetUserId: string) => api.post(`/api/studies/${studyId}/transfer-ownership`, { target_user_id: targetUserId }),
    onSuccess: invalidate,
  });
}
