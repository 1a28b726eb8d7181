import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api-client";
import { SESSION_KEY } from "../../lib/session";
import type { Me } from "../../lib/types";

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string }) =>
      (await api.post<{ user: Me }>("/api/auth/login", body)).data.user,
    onSuccess: (user) => { queryClient.clear(); queryClient.setQueryData(SESSION_KEY, user); },
  });
}

export function useSignUp() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string; password_confirm: string; name: string }) =>
      (await api.post<{ user: Me }>("/api/auth/signup", body)).data.user,
    onSuccess: (user) => { queryClient.clear(); queryClient.setQueryData(SESSION_KEY, user); },
  });
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async () => { await api.post("/api/auth/logout"); },
    onSettled: () => { queryClient.clear(); queryClient.setQueryData(SESSION_KEY, null); },
  });
}
