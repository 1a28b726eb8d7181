// Community groups (COUP.md §7.16): no realtime events in v1, so every change invalidates.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";
import type { UserSummary } from "../../lib/types";

export const GROUP_CATEGORIES = ["STUDY", "PROJECT", "HOBBY", "NETWORK", "SOCIAL", "ETC"] as const;
export type GroupRole = "OWNER" | "ADMIN" | "MEMBER";
export interface Group {
  id: string; name: string; description: string | null; category: string; image_url: string | null; tags: string[];
  is_public: boolean; max_members: number; is_recruiting: boolean; current_members: number; created_by: UserSummary;
  is_member: boolean; my_role: GroupRole | null; my_status: string | null; created_at: string;
}
export interface GroupMember { user: UserSummary; role: GroupRole; status: string; joined_at: string; left_at: string | null }
export interface GroupInvite {
  id: string; group_id: string; code: string; status: "PENDING" | "ACCEPTED" | "EXPIRED" | "CANCELLED"; email: string | null;
  invited_user: UserSummary | null; invited_by: UserSummary; expires_at: string | null; used_at: string | null; created_at: string;
}
export interface GroupFilters { search: string; category: string; sort: string; mine: boolean }
export interface NewGroup { name: string; description: string | null; category: string; tags: string[]; is_public: boolean; is_recruiting: boolean; max_members: number }

export function useGroups(filters: GroupFilters) {
  return useInfiniteQuery({
    queryKey: ["groups", "list", filters],
    initialPageParam: 1,
    queryFn: ({ pageParam, signal }) => api.get<Group[], OffsetPagination>("/api/groups", {
      page: pageParam, limit: 20, search: filters.search.trim(), category: filters.category, sort: filters.sort,
      mine: filters.mine || undefined,
    }, signal),
    getNextPageParam: (last) => (last.pagination.has_next ? last.pagination.page + 1 : undefined),
  });
}

export function useGroup(id: string) {
  return useQuery({ queryKey: ["groups", "detail", id], queryFn: async () => (await api.get<Group & { members_preview: GroupMember[] }>(`/api/groups/${id}`)).data });
}

export function useGroupMembers(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ["groups", "members", id], enabled,
    queryFn: async () => (await api.get<GroupMember[], OffsetPagination>(`/api/groups/${id}/members`, { limit: 50 })).data,
  });
}

export function useGroupInvites(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ["groups", "invites", id], enabled,
    queryFn: async () => (await api.get<GroupInvite[], OffsetPagination>(`/api/groups/${id}/invites`, { limit: 50 })).data,
  });
}

function useInvalidateGroups() {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: ["groups"] });
}

export function useCreateGroup() {
  const invalidate = useInvalidateGroups();
  return useMutation({ mutationFn: async (body: NewGroup) => (await api.post<Group>("/api/groups", body)).data, onSuccess: invalidate });
}

export function useGroupAction(id: string) {
  const invalidate = useInvalidateGroups();
  const options = { onSuccess: invalidate };
  return {
    join: useMutation({ mutationFn: (code: string | null) => api.post(`/api/groups/${id}/join`, code ? { invite_code: code } : {}), ...options }),
    leave: useMutation({ mutationFn: () => api.post(`/api/groups/${id}/leave`), ...options }),
    remove: useMutation({ mutationFn: () => api.delete(`/api/groups/${id}`), ...options }),
    setRole: useMutation({ mutationFn: ({ userId, role }: { userId: string; role: GroupRole }) => api.patch(`/api/groups/${id}/members/${userId}`, { role }), ...options }),
    removeMember: useMutation({
      mutationFn: ({ userId, kick }: { userId: string; kick: boolean }) =>
        api.delete(`/api/groups/${id}/members?user_id=${encodeURIComponent(userId)}&kick=${kick}`), ...options,
    }),
    invite: useMutation({
      mutationFn: async (body: { email?: string; expires_in_days: number }) => (await api.post<GroupInvite>(`/api/groups/${id}/invites`, body)).data, ...options,
    }),
    cancelInvite: useMutation({ mutationFn: (inviteId: string) => api.delete(`/api/groups/${id}/invites?invite_id=${encodeURIComponent(inviteId)}`), ...options }),
  };
}
