import { useQuery } from "@tanstack/react-query";
import { api } from "./api-client";
import { DEFAULT_TIME_ZONE } from "./dates";
import type { PublicConfig } from "./types";

export function useConfig() {
  return useQuery({
    queryKey: ["config"],
    queryFn: async () => (await api.get<PublicConfig>("/api/config")).data,
    staleTime: 5 * 60_000,
  });
}

export function useTimeZone(): string {
  return useConfig().data?.time_zone ?? DEFAULT_TIME_ZONE;
}
