import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, upload, type OffsetPagination } from "../../lib/api-client";
import type { UserSummary } from "../../lib/types";
import type { FileCategory } from "./storage";

export interface StudyFile {
  id: string; study_id: string; name: string; size: number; type: string; category: FileCategory;
  folder: string | null; url: string; downloads: number; last_downloaded_at: string | null;
  uploader: UserSummary; created_at: string;
}
export interface Folder { folder: string | null; file_count: number; total_size: number }
export interface Storage { used_bytes: number; quota_bytes: number; usage_percent: number; file_count: number }
export interface FileFilters { folder: string; category: string; q: string; page: number }

export const fileKeys = {
  all: (studyId: string) => ["files", studyId] as const,
  list: (studyId: string, filters: FileFilters) => ["files", studyId, "list", filters] as const,
  folders: (studyId: string) => ["files", studyId, "folders"] as const,
  storage: (studyId: string) => ["files", studyId, "storage"] as const,
};

export const ALL_FOLDERS = "*";

export function useFiles(studyId: string, filters: FileFilters) {
  return useQuery({
    queryKey: fileKeys.list(studyId, filters),
    queryFn: async () => api.get<StudyFile[], OffsetPagination>(`/api/studies/${studyId}/files`, {
      folder: filters.folder, category: filters.category, q: filters.q.trim(), page: filters.page, limit: 20 }),
    placeholderData: (previous) => previous,
  });
}

export function useFolders(studyId: string) {
  return useQuery({
    queryKey: fileKeys.folders(studyId),
    queryFn: async () => (await api.get<Folder[]>(`/api/studies/${studyId}/files/folders`)).data,
  });
}

export function useStorage(studyId: string) {
  return useQuery({
    queryKey: fileKeys.storage(studyId),
    queryFn: async () => (await api.get<Storage>(`/api/studies/${studyId}/files/storage`)).data,
  });
}

/** Uploads into the study's files, with progress (lib/api-client's `upload`); cancellable. */
export async function uploadFile(studyId: string, file: File, folder: string, onProgress: (fraction: number) => void,
  signal?: AbortSignal): Promise<StudyFile> {
  const fields: Record<string, string> = folder.trim() ? { folder: folder.trim() } : {};
  return (await upload<StudyFile>(`/api/studies/${studyId}/files`, file, { fields, onProgress, signal })).data;
}

export function useDeleteFile(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/studies/${studyId}/files/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: fileKeys.all(studyId) }),
  });
}
