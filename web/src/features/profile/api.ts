// The person's own account (COUP.md §7.1 sessions, §7.2 profile, password, deletion, avatar).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, upload } from "../../lib/api-client";
import { SESSION_KEY } from "../../lib/session";
import type { Me } from "../../lib/types";

export interface MyAccount {
  user: Me & { linked_providers: string[]; created_at: string; last_login_at: string | null };
  stats: { study_count: number; task_count: number; unread_notifications: number };
}
export interface LoginSession { id: string; created_at: string; last_seen_at: string; expires_at: string; ip: string | null; user_agent: string | null; current: boolean }
export interface MyStats {
  this_week: { completed_tasks: number; created_notices: number; uploaded_files: number; chat_messages: number };
  total: { study_count: number; managing_studies: number; completed_tasks: number; attendance_rate: number; best_current_streak: number; joined_days: number };
}

const ACCOUNT_KEY = ["account"] as const;
const SESSIONS_KEY = ["account", "sessions"] as const;

export function useAccount() {
  return useQuery({ queryKey: ACCOUNT_KEY, queryFn: async () => (await api.get<MyAccount>("/api/users/me")).data });
}

export function useMyStats() {
  return useQuery({ queryKey: ["account", "stats"], queryFn: async () => (await api.get<MyStats>("/api/users/me/stats")).data });
}

export function useLoginSessions() {
  return useQuery({ queryKey: SESSIONS_KEY, queryFn: async () => (await api.get<LoginSession[]>("/api/auth/sessions")).data });
}

/** A changed account shows everywhere at once: the header avatar reads the session query. */
function useAccountChanged() {
  const queryClient = useQueryClient();
  return (me: Me) => {
    queryClient.setQueryData(SESSION_KEY, me);
    queryClient.invalidateQueries({ queryKey: ACCOUNT_KEY });
  };
}

export function useUpdateProfile() {
  const changed = useAccountChanged();
  return useMutation({
    mutationFn: async (body: { name?: string; bio?: string | null }) => (await api.patch<Me>("/api/users/me", body)).data,
    onSuccess: changed,
  });
}

export function useUploadAvatar(onProgress: (fraction: number) => void) {
  const changed = useAccountChanged();
  return useMutation({ mutationFn: async (file: File) => (await upload<Me>("/api/users/me/avatar", file, { onProgress })).data, onSuccess: changed });
}

export function useRemoveAvatar() {
  const changed = useAccountChanged();
  return useMutation({ mutationFn: async () => (await api.delete<Me>("/api/users/me/avatar")).data, onSuccess: changed });
}

export function useChangePassword() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { current_password?: string; new_password: string; confirm_password: string }) => api.patch("/api/users/me/password", body),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ACCOUNT_KEY }),
  });
}

export function useRevokeSession() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/auth/sessions/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: SESSIONS_KEY }),
  });
}

export function useDeleteAccount() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { confirmation: string; password?: string }) => api.delete("/api/users/me", body),
    onSuccess: () => {
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] && query.queryKey[0] !== "config" });
      queryClient.setQueryData(SESSION_KEY, null);
    },
  });
}
