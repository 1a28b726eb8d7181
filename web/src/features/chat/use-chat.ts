// A study's chat as one hook: REST history in the query cache, kept live by the realtime client.
import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, type CursorPagination } from "../../lib/api-client";
import { useRealtime, useRealtimeValue } from "../../lib/realtime";
import type { Message } from "../../lib/types";
import type { OutboxItem, RealtimeUser } from "../../realtime";
import { mergeMessages, withoutMessage, type ChatHistory } from "./chat-cache";

const PAGE = 50;
const NONE: OutboxItem[] = [];
const NOBODY: RealtimeUser[] = [];
export const chatKeys = {
  history: (studyId: string) => ["chat", studyId] as const,
  cursors: (studyId: string) => ["chat-cursors", studyId] as const,
};

async function fetchPage(studyId: string, beforeSeq?: number) {
  return api.get<Message[], CursorPagination>(`/api/studies/${studyId}/chat`, { limit: PAGE, before_seq: beforeSeq });
}

function patchHistory(queryClient: QueryClient, studyId: string, change: (messages: Message[]) => Message[]) {
  queryClient.setQueryData<ChatHistory>(chatKeys.history(studyId), (current) =>
    current ? { ...current, messages: change(current.messages) } : current);
}

export function useChat(studyId: string) {
  const queryClient = useQueryClient();
  const client = useRealtime();
  const outbox = useRealtimeValue<OutboxItem[]>("outbox", (c) => c.outbox(studyId), NONE);
  const typing = useRealtimeValue<RealtimeUser[]>("typing", (c) => c.typingUsers(studyId), NOBODY);
  const online = useRealtimeValue<RealtimeUser[]>("presence", (c) => c.online(studyId), NOBODY);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [removed, setRemoved] = useState<string | null>(null);
  const firstJoin = useRef(true);

  const history = useQuery({
    queryKey: chatKeys.history(studyId),
    queryFn: async (): Promise<ChatHistory> => {
      const page = await fetchPage(studyId);
      // Live messages that arrived while this page was on its way are kept.
      const live = queryClient.getQueryData<ChatHistory>(chatKeys.history(studyId));
      return { messages: mergeMessages(live?.messages ?? [], page.data), hasMoreBefore: page.pagination.has_more };
    },
    staleTime: Infinity, // the realtime client keeps it fresh
  });

  const cursors = useQuery({
    queryKey: chatKeys.cursors(studyId),
    queryFn: async () => new Map((await api.get<{ user_id: string; last_read_seq: number }[]>(
      `/api/studies/${studyId}/chat/read-cursors`)).data.map((row) => [row.user_id, row.last_read_seq])),
  });

  useEffect(() => {
    if (!client) return;
    firstJoin.current = true;
    const mine = (event: { studyId: string }) => event.studyId === studyId;
    const offs = [
      client.on("studyEvent", (event) => {
        if (!mine(event)) return;
        if (event.event === "chat:new-message" || event.event === "chat:message-updated") {
          patchHistory(queryClient, studyId, (messages) => mergeMessages(messages, [event.data.message as Message]));
        } else if (event.event === "chat:message-deleted") {
          patchHistory(queryClient, studyId, (messages) => withoutMessage(messages, String(event.data.message_id)));
        } else if (event.event.startsWith("study:member-")) {
          queryClient.invalidateQueries({ queryKey: chatKeys.cursors(studyId) });
        }
      }),
      client.on("chatAck", (event) => {
        if (mine(event)) patchHistory(queryClient, studyId, (messages) => mergeMessages(messages, [event.message as unknown as Message]));
      }),
      client.on("joined", (event) => {
        if (!mine(event) || !firstJoin.current) return;
        firstJoin.current = false;
        // Joining fixes the room's seq; a page fetched after it cannot miss what came before.
        queryClient.invalidateQueries({ queryKey: chatKeys.history(studyId) });
        queryClient.invalidateQueries({ queryKey: chatKeys.cursors(studyId) });
      }),
      client.on("resync", (event) => {
        if (!mine(event)) return;
        queryClient.resetQueries({ queryKey: chatKeys.history(studyId) });
        queryClient.invalidateQueries({ queryKey: chatKeys.cursors(studyId) });
      }),
      client.on("read", (event) => {
        if (!mine(event)) return;
        queryClient.setQueryData<Map<string, number>>(chatKeys.cursors(studyId), (current) => {
          if (!current || (current.get(event.userId) ?? 0) >= event.seq) return current;
          return new Map(current).set(event.userId, event.seq);
        });
      }),
      client.on("removed", (event) => { if (mine(event)) setRemoved(event.reason); }),
    ];
    const release = client.subscribe(studyId);
    return () => { offs.forEach((off) => off()); release(); };
  }, [client, studyId, queryClient]);

  const loadOlder = useCallback(async () => {
    const current = queryClient.getQueryData<ChatHistory>(chatKeys.history(studyId));
    const oldest = current?.messages[0]?.seq;
    if (!current?.hasMoreBefore || oldest === undefined || loadingOlder) return 0;
    setLoadingOlder(true);
    try {
      const page = await fetchPage(studyId, oldest);
      queryClient.setQueryData<ChatHistory>(chatKeys.history(studyId), (now) => now && ({
        messages: mergeMessages(now.messages, page.data), hasMoreBefore: page.pagination.has_more }));
      return page.data.length;
    } finally {
      setLoadingOlder(false);
    }
  }, [queryClient, studyId, loadingOlder]);

  const markRead = useCallback((seq: number, myId: string) => {
    client?.markRead(studyId, seq);
    queryClient.setQueryData<Map<string, number>>(chatKeys.cursors(studyId), (current) =>
      current && (current.get(myId) ?? 0) < seq ? new Map(current).set(myId, seq) : current);
  }, [client, queryClient, studyId]);

  return {
    history, cursors: cursors.data ?? new Map<string, number>(), outbox, typing, online, loadingOlder, removed,
    loadOlder, markRead,
    send: (content: string) => client?.sendChat(studyId, content),
    retry: (clientId: string) => client?.retryChat(clientId),
    discard: (clientId: string) => client?.discardChat(clientId),
    setTyping: (isTyping: boolean) => client?.setTyping(studyId, isTyping),
  };
}
