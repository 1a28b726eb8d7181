import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type OffsetPagination } from "../../lib/api-client";
import type { FileRef, UserSummary } from "../../lib/types";

export interface Notice {
  id: string; study_id: string; title: string; content: string; content_truncated?: boolean;
  is_pinned: boolean; pinned_at: string | null; is_important: boolean; views: number;
  author: UserSummary; attachments: FileRef[]; created_at: string; updated_at: string;
}
export interface NoticeInput { title: string; content: string; is_pinned: boolean; is_important: boolean; attachment_file_ids: string[] }

export const noticeKeys = {
  all: (studyId: string) => ["notices", studyId] as const,
  list: (studyId: string, page: number) => ["notices", studyId, "list", page] as const,
  detail: (studyId: string, id: string) => ["notices", studyId, "detail", id] as const,
};

export const NOTICE_PAGE = 10;
export const PIN_LIMIT = 3;

export function useNotices(studyId: string, page: number) {
  return useQuery({
    queryKey: noticeKeys.list(studyId, page),
    queryFn: async () => api.get<Notice[], OffsetPagination>(`/api/studies/${studyId}/notices`, { page, limit: NOTICE_PAGE }),
    placeholderData: (previous) => previous,
  });
}

/** Opening a notice counts the caller's first view (COUP.md §7.8). */
export function useNotice(studyId: string, id: string | undefined) {
  return useQuery({
    queryKey: noticeKeys.detail(studyId, id ?? ""),
    enabled: Boolean(id),
    queryFn: async () => (await api.get<Notice>(`/api/studies/${studyId}/notices/${id}`)).data,
  });
}

export function useSaveNotice(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, body }: { id?: string; body: Partial<NoticeInput> }) => (id
      ? await api.patch<Notice>(`/api/studies/${studyId}/notices/${id}`, body)
      : await api.post<Notice>(`/api/studies/${studyId}/notices`, body)).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: noticeKeys.all(studyId) }),
  });
}

export function useTogglePin(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (id: string) => (await api.post<Notice>(`/api/studies/${studyId}/notices/${id}/pin`)).data,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: noticeKeys.all(studyId) }),
  });
}

export function useDeleteNotice(studyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.delete(`/api/studies/${studyId}/notices/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: noticeKeys.all(studyId) }),
  });
}

export const MAX_ATTACHMENTS = 5;

/** The study's newest files, to attach to a notice (the same endpoint as the files tab). */
export function useAttachableFiles(studyId: string) {
  return useQuery({
    queryKey: ["files", studyId, "attachable"],
    queryFn: async () => (await api.get<FileRef[]>(`/api/studies/${studyId}/files`, { folder: "*", limit: 50 })).data,
  });
}
