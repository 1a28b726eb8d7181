import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, type OffsetPagination } from "../../lib/api-client";
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

function xsrfCookie(): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === "_xsrf") return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function xsrf(): Promise<string> {
  return xsrfCookie() ?? (await api.get<{ xsrf_token: string }>("/api/auth/csrf")).data.xsrf_token;
}

/**
 * Multipart upload through XMLHttpRequest, the one browser API that reports upload progress.
 * Errors arrive as the same ApiError the REST client throws.
 */
export function uploadFile(studyId: string, file: File, folder: string, onProgress: (fraction: number) => void,
  signal?: AbortSignal): Promise<StudyFile> {
  return xsrf().then((token) => new Promise<StudyFile>((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (folder.trim()) form.append("folder", folder.trim());
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/studies/${studyId}/files`);
    xhr.setRequestHeader("X-XSRFToken", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); };
    xhr.onload = () => {
      const body = xhr.response as { success?: boolean; data?: StudyFile;
        error?: { code: string; message: string; fields?: Record<string, string>; details?: Record<string, unknown> } } | null;
      if (xhr.status >= 200 && xhr.status < 300 && body?.success) { onProgress(1); resolve(body.data!); return; }
      const error = body?.error ?? { code: xhr.status === 413 ? "FILE_TOO_LARGE" : "UNKNOWN", message: xhr.statusText };
      reject(new ApiError(error.code, error.message, xhr.status, error.fields ?? {}, error.details ?? {}));
    };
    xhr.onerror = () => reject(new ApiError("NETWORK", "network error"));
    xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  }));
}

export function useDeleteFile(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/studies/${studyId}/files/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: fileKeys.all(studyId) }),
  });
}
