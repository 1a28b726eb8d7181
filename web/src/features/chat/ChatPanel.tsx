import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { Avatar, Button, EmptyState, Skeleton, Spinner } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDay, formatTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import type { Message } from "../../lib/types";
import type { OutboxItem } from "../../realtime";
import { chatRows, unreadBy, type ChatRow } from "./chat-cache";
import { useChat } from "./use-chat";

const MAX_LENGTH = 2000;
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 240;

type Row = ChatRow | { kind: "outbox"; key: string; item: OutboxItem };

export function ChatPanel({ studyId, myId }: { studyId: string; myId: string }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const chat = useChat(studyId);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ key: string } | null>(null);
  const [showJump, setShowJump] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const messages = useMemo(() => chat.history.data?.messages ?? [], [chat.history.data]);
  const rows: Row[] = useMemo(() => [
    ...chatRows(messages, timeZone),
    ...chat.outbox.map((item) => ({ kind: "outbox" as const, key: `out-${item.clientId}`, item })),
  ], [messages, chat.outbox, timeZone]);

  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read during render by design
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: (index) => (rows[index]?.kind === "day" ? 44 : 64),
    getItemKey: (index) => rows[index]?.key ?? index,
    overscan: 8,
  });

  // Keep the view pinned: at the bottom for new messages, on the same message after older ones load.
  const lastKey = rows[rows.length - 1]?.key;
  useLayoutEffect(() => {
    if (rows.length === 0) return;
    if (anchor.current) {
      const index = rows.findIndex((row) => row.key === anchor.current!.key);
      anchor.current = null;
      if (index >= 0) virtualizer.scrollToIndex(index, { align: "start" });
      return;
    }
    if (atBottom.current) virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
    else setShowJump(true);
  }, [lastKey, rows.length]); // eslint-disable-line react-hooks/exhaustive-deps

  // Read receipts: the newest message counts as read while the page is visible at the bottom.
  const newest = messages[messages.length - 1];
  const { markRead } = chat;
  useEffect(() => {
    if (!newest || !atBottom.current || document.visibilityState !== "visible") return;
    markRead(newest.seq, myId);
  }, [newest, myId, markRead]);

  // Screen readers hear messages from others as they arrive.
  const lastAnnounced = useRef<string | null>(null);
  useEffect(() => {
    if (!newest || lastAnnounced.current === newest.id) return;
    const first = lastAnnounced.current === null;
    lastAnnounced.current = newest.id;
    if (!first && newest.user.id !== myId) setAnnouncement(t("chat.newMessageFrom", { name: newest.user.name, content: newest.content }));
  }, [newest, myId, t]);

  const onScroll = () => {
    const node = scroller.current;
    if (!node) return;
    atBottom.current = node.scrollHeight - node.scrollTop - node.clientHeight < NEAR_BOTTOM_PX;
    if (atBottom.current) {
      setShowJump(false);
      if (newest) markRead(newest.seq, myId);
    }
    if (node.scrollTop < NEAR_TOP_PX && chat.history.data?.hasMoreBefore && !chat.loadingOlder) {
      const first = rows.find((row) => row.kind === "message");
      if (first) anchor.current = { key: first.key };
      chat.loadOlder().then((count) => { if (!count) anchor.current = null; });
    }
  };

  const jumpToBottom = () => {
    atBottom.current = true;
    setShowJump(false);
    virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
  };

  if (chat.removed) return null;

  return (
    <section className="chat" aria-label={t("chat.title")}>
      <div className="visually-hidden" aria-live="polite" aria-atomic="true">{announcement}</div>
      <div ref={scroller} className="chat-scroll" onScroll={onScroll} tabIndex={0} role="region" aria-label={t("chat.messages")}>
        {chat.history.isPending ? (
          <div className="chat-loading"><Skeleton height={48} count={5} /></div>
        ) : chat.history.isError ? (
          <EmptyState icon="⚠️" title={errorText(chat.history.error, t)} action={<Button onClick={() => chat.history.refetch()}>{t("app.retry")}</Button>} />
        ) : rows.length === 0 ? (
          <EmptyState icon="💬" title={t("chat.emptyTitle")} body={t("chat.emptyBody")} />
        ) : (
          <>
            <div className="chat-top muted small">
              {chat.loadingOlder ? <><Spinner decorative /> {t("chat.loadingOlder")}</> : !chat.history.data?.hasMoreBefore ? t("chat.beginning") : null}
            </div>
            <div role="list" style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
              {virtualizer.getVirtualItems().map((item) => {
                const row = rows[item.index]!;
                return (
                  <div key={item.key} role="listitem" data-index={item.index} ref={virtualizer.measureElement}
                    className="chat-row" style={{ transform: `translateY(${item.start}px)` }}>
                    {row.kind === "day" ? (
                      <div className="day-separator"><span>{formatDay(row.iso, language, timeZone)}</span></div>
                    ) : row.kind === "message" ? (
                      <MessageBubble message={row.message} mine={row.message.user.id === myId} showAuthor={row.showAuthor}
                        unread={unreadBy(row.message, chat.cursors)} time={formatTime(row.message.created_at, language, timeZone)} />
                    ) : (
                      <PendingBubble item={row.item} onRetry={() => chat.retry(row.item.clientId)} onDiscard={() => chat.discard(row.item.clientId)} />
                    )}
                  </div>
                );
              })}
            </div>
          </>
        )}
      </div>
      {showJump && <button type="button" className="btn btn-primary btn-s jump" onClick={jumpToBottom}>{t("chat.newBelow")} ↓</button>}
      <TypingLine names={chat.typing.filter((user) => user.id !== myId).map((user) => user.name)} />
      <Composer onSend={(text) => { atBottom.current = true; chat.send(text); }} onTyping={chat.setTyping} />
    </section>
  );
}

function MessageBubble({ message, mine, showAuthor, unread, time }: {
  message: Message; mine: boolean; showAuthor: boolean; unread: number; time: string;
}) {
  const { t } = useI18n();
  return (
    <div className={mine ? "msg msg-mine" : "msg"} data-seq={message.seq}>
      {!mine && <div className="msg-avatar">{showAuthor && <Avatar name={message.user.name} src={message.user.avatar} size={32} />}</div>}
      <div className="msg-body">
        {!mine && showAuthor && <div className="msg-author">{message.user.name}</div>}
        <div className="msg-line">
          <div className="bubble">{message.content}{message.file && <a className="msg-file" href={message.file.url}>📎 {message.file.name}</a>}</div>
          <div className="msg-meta">
            {unread > 0
              ? <span className="msg-unread" aria-label={t("chat.unreadBy", { count: unread })}>{unread}</span>
              : mine ? <span className="msg-read">{t("chat.read")}</span> : null}
            {message.edited && <span>{t("chat.edited")}</span>}
            <time dateTime={message.created_at}>{time}</time>
          </div>
        </div>
      </div>
    </div>
  );
}

function PendingBubble({ item, onRetry, onDiscard }: { item: OutboxItem; onRetry: () => void; onDiscard: () => void }) {
  const { t } = useI18n();
  const failed = item.status === "failed";
  return (
    <div className="msg msg-mine msg-pending" data-status={item.status}>
      <div className="msg-body">
        <div className="msg-line">
          <div className="bubble">{item.content}</div>
          <div className="msg-meta">
            {failed ? <span className="error-text">{t("chat.failed")}</span> : <><Spinner decorative /><span>{t("chat.sending")}</span></>}
          </div>
        </div>
        {failed && (
          <div className="row msg-actions">
            {item.error && <span className="small muted">{errorText(item.error, t)}</span>}
            <Button size="s" variant="secondary" onClick={onRetry}>{t("chat.retry")}</Button>
            <Button size="s" variant="ghost" onClick={onDiscard}>{t("chat.discard")}</Button>
          </div>
        )}
      </div>
    </div>
  );
}

function TypingLine({ names }: { names: string[] }) {
  const { t } = useI18n();
  const text = names.length === 0 ? "" : names.length === 1 ? t("chat.typingOne", { name: names[0]! }) : t("chat.typingMany", { count: names.length });
  return <div className="typing muted small" aria-live="polite">{text}</div>;
}

function Composer({ onSend, onTyping }: { onSend: (text: string) => void; onTyping: (typing: boolean) => void }) {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const tooLong = [...text].length > MAX_LENGTH;
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const content = text.trim();
    if (!content || tooLong) return;
    onSend(content);
    setText("");
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter adds a line; never while an IME (Korean input) is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  };
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="chat-input" className="visually-hidden">{t("chat.input")}</label>
      <textarea id="chat-input" rows={1} value={text} placeholder={t("chat.placeholder")} aria-invalid={tooLong || undefined}
        aria-describedby={tooLong ? "chat-too-long" : undefined}
        onChange={(event) => { setText(event.target.value); onTyping(event.target.value.length > 0); }}
        onBlur={() => onTyping(false)} onKeyDown={onKeyDown} />
      <Button type="submit" disabled={!text.trim() || tooLong}>{t("chat.send")}</Button>
      {tooLong && <p id="chat-too-long" className="error-text composer-error" role="alert">{t("chat.tooLong")}</p>}
    </form>
  );
}
