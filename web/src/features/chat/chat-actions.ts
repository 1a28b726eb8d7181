// Chat beyond sending text: edit, delete, a file attachment, search (COUP.md §7.7). The room
// events (chat:message-updated|deleted, chat:new-message) keep every open chat in step; the
// REST answers are merged into the cache too, so the author sees the change at once.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, upload, type OffsetPagination } from "../../lib/api-client";
import type { FileRef, Message } from "../../lib/types";
import { mergeMessages, withoutMessage, type ChatHistory } from "./chat-cache";
import { chatKeys } from "./use-chat";

function useHistoryPatch(studyId: string) {
  const queryClient = useQueryClient();
  return (change: (messages: Message[]) => Message[]) => queryClient.setQueryData<ChatHistory>(
    chatKeys.history(studyId), (current) => (current ? { ...current, messages: change(current.messages) } : current));
}

export function useEditMessage(studyId: string) {
  const patch = useHistoryPatch(studyId);
  return useMutation({
    mutationFn: async ({ id, content }: { id: string; content: string }) =>
      (await api.patch<Message>(`/api/studies/${studyId}/chat/${id}`, { content })).data,
    onSuccess: (message) => patch((messages) => mergeMessages(messages, [message])),
  });
}

export function useDeleteMessage(studyId: string) {
  const patch = useHistoryPatch(studyId);
  return useMutation({
    mutationFn: async (id: string) => { await api.delete(`/api/studies/${studyId}/chat/${id}`); return id; },
    onSuccess: (id) => patch((messages) => withoutMessage(messages, id)),
  });
}

/** The file goes to the study's files first (with progress), then the message. */
async function uploadFile(studyId: string, file: File, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<FileRef> {
  return (await upload<FileRef>(`/api/studies/${studyId}/files`, file, { onProgress, signal })).data;
}

/** A UUID for idempotent sends; randomUUID needs a secure context, getRandomValues does not. */
function clientId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function useSendFile(studyId: string) {
  const patch = useHistoryPatch(studyId);
  const queryClient = useQueryClient();
  return async (file: File, content: string, onProgress: (fraction: number) => void, signal: AbortSignal) => {
    const uploaded = await uploadFile(studyId, file, onProgress, signal);
    queryClient.invalidateQueries({ queryKey: ["files", studyId] });
    const message = (await api.post<Message>(`/api/studies/${studyId}/chat`, {
      content, file_id: uploaded.id, client_id: clientId() })).data;
    patch((messages) => mergeMessages(messages, [message]));
    return message;
  };
}

export function useChatSearch(studyId: string, q: string) {
  const query = q.trim();
  return useQuery({
    queryKey: ["chat-search", studyId, query],
    enabled: query.length > 0,
    queryFn: async () => api.get<Message[], OffsetPagination>(`/api/studies/${studyId}/chat/search`, { q: query, limit: 20 }),
    staleTime: 10_000,
  });
}

/** IMAGE files (not SVG) can be previewed inline without counting as a download. */
export function inlinePreviewUrl(file: FileRef): string | null {
  return file.type.startsWith("image/") && file.type !== "image/svg+xml" ? `${file.url}?inline=true` : null;
}
