// Who is signed in: GET /api/auth/me in the query cache (null when signed out).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, ApiError, onUnauthorized } from "./api-client";
import type { Me } from "./types";

export const SESSION_KEY = ["session"] as const;

async function fetchSession(): Promise<Me | null> {
  try {
    return (await api.get<{ user: Me }>("/api/auth/me")).data.user;
  } catch (error) {
    if (error instanceof ApiError && (error.code === "UNAUTHORIZED" || error.status === 403)) return null;
    throw error;
  }
}

export function useSession() {
  const queryClient = useQueryClient();
  useEffect(() => onUnauthorized(() => queryClient.setQueryData(SESSION_KEY, null)), [queryClient]);
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 60_000 });
}
