import { useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api-client";
import { SESSION_KEY } from "../../lib/session";
import type { Me } from "../../lib/types";

/** A new person: drop what was cached for the previous one (keeping the observed session query). */
function switchUser(queryClient: QueryClient, user: Me | null) {
  queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] && query.queryKey[0] !== "config" });
  queryClient.setQueryData(SESSION_KEY, user);
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string }) =>
      (await api.post<{ user: Me }>("/api/auth/login", body)).data.user,
    onSuccess: (user) => switchUser(queryClient, user),
  });
}

export function useSignUp() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string; password_confirm: string; name: string }) =>
      (await api.post<{ user: Me }>("/api/auth/signup", body)).data.user,
    onSuccess: (user) => switchUser(queryClient, user),
  });
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async () => { await api.post("/api/auth/logout"); },
    onSettled: () => switchUser(queryClient, null),
  });
}
