import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { Avatar, Button, EmptyState, Skeleton, Spinner, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDay, formatTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import type { Message } from "../../lib/types";
import type { OutboxItem } from "../../realtime";
import { chatRows, unreadBy, type ChatRow } from "./chat-cache";
import { inlinePreviewUrl, useChatSearch, useDeleteMessage, useEditMessage, useSendFile } from "./chat-actions";
import { useMessageReportAction, type MessageReportAction } from "./report-slot";
import { useChat } from "./use-chat";

const MAX_LENGTH = 2000;
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 240;

type Row = ChatRow | { kind: "outbox"; key: string; item: OutboxItem };

/** `reportAction` (or the app's MessageReportProvider) adds "report" to other people's message menus. */
export function ChatPanel({ studyId, myId, canModerate = false, reportAction }: {
  studyId: string; myId: string; canModerate?: boolean; reportAction?: MessageReportAction;
}) {
  const { t, language } = useI18n();
  const providedReport = useMessageReportAction();
  const report = reportAction ?? providedReport;
  const toast = useToast();
  const confirm = useConfirm();
  const edit = useEditMessage(studyId);
  const remove = useDeleteMessage(studyId);
  const [editingId, setEditingId] = useState<string | null>(null);
  const [searching, setSearching] = useState(false);
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
      <div className="chat-tools">
        <Button size="s" variant="ghost" aria-expanded={searching} onClick={() => setSearching(!searching)}>🔍 {t("chatx.search")}</Button>
      </div>
      {searching && <ChatSearch studyId={studyId} onClose={() => setSearching(false)} />}
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
                        unread={unreadBy(row.message, chat.cursors)} time={formatTime(row.message.created_at, language, timeZone)}
                        canDelete={row.message.user.id === myId || canModerate} editing={editingId === row.message.id} report={report}
                        onEdit={() => setEditingId(row.message.id)} onCancelEdit={() => setEditingId(null)}
                        onSave={(content) => edit.mutate({ id: row.message.id, content }, {
                          onSuccess: () => setEditingId(null), onError: (error) => toast(errorText(error, t), "error") })}
                        onDelete={async () => {
                          if (!(await confirm(t("chatx.deleteConfirm"), { danger: true, confirmLabel: t("roomUi.delete") }))) return;
                          remove.mutate(row.message.id, { onError: (error) => toast(errorText(error, t), "error") });
                        }} />
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
      <Composer studyId={studyId} onSend={(text) => { atBottom.current = true; chat.send(text); }} onTyping={chat.setTyping}
        onSent={() => { atBottom.current = true; }} />
    </section>
  );
}

function MessageBubble({ message, mine, showAuthor, unread, time, canDelete, editing, report, onEdit, onCancelEdit, onSave, onDelete }: {
  message: Message; mine: boolean; showAuthor: boolean; unread: number; time: string; canDelete: boolean; editing: boolean;
  report: MessageReportAction | null; onEdit: () => void; onCancelEdit: () => void; onSave: (content: string) => void; onDelete: () => void;
}) {
  const { t } = useI18n();
  const [menu, setMenu] = useState(false);
  const preview = message.file ? inlinePreviewUrl(message.file) : null;
  const reportable = Boolean(report) && !mine;
  const hasActions = mine || canDelete || reportable;
  return (
    <div className={mine ? "msg msg-mine" : "msg"} data-seq={message.seq}>
      {!mine && <div className="msg-avatar">{showAuthor && <Avatar name={message.user.name} src={message.user.avatar} size={32} />}</div>}
      <div className="msg-body">
        {!mine && showAuthor && <div className="msg-author">{message.user.name}</div>}
        <div className="msg-line">
          {editing ? <EditBox initial={message.content} allowEmpty={Boolean(message.file)} onSave={onSave} onCancel={onCancelEdit} /> : (
            <div className="bubble">
              {message.content}
              {preview && <img className="msg-image" src={preview} alt={message.file!.name} loading="lazy" />}
              {message.file && <a className="msg-file" href={message.file.url} download={message.file.name}>📎 {message.file.name}</a>}
            </div>
          )}
          <div className="msg-meta">
            {unread > 0
              ? <span className="msg-unread" aria-label={t("chat.unreadBy", { count: unread })}>{unread}</span>
              : mine ? <span className="msg-read">{t("chat.read")}</span> : null}
            {message.edited && <span>{t("chat.edited")}</span>}
            <time dateTime={message.created_at}>{time}</time>
          </div>
          {hasActions && !editing && (
            <button type="button" className="msg-menu-btn" aria-expanded={menu} aria-label={t("chatx.actions")}
              onClick={() => setMenu(!menu)}>⋯</button>
          )}
        </div>
        {menu && !editing && (
          <div className={mine ? "msg-menu msg-menu-mine" : "msg-menu"}>
            {mine && <Button size="s" variant="ghost" onClick={() => { setMenu(false); onEdit(); }}>{t("roomUi.edit")}</Button>}
            {canDelete && <Button size="s" variant="ghost" onClick={() => { setMenu(false); onDelete(); }}>{t("roomUi.delete")}</Button>}
            {reportable && report?.(message)}
          </div>
        )}
      </div>
    </div>
  );
}

function EditBox({ initial, allowEmpty, onSave, onCancel }: { initial: string; allowEmpty: boolean; onSave: (content: string) => void; onCancel: () => void }) {
  const { t } = useI18n();
  const [text, setText] = useState(initial);
  const content = text.trim();
  const valid = (allowEmpty || content.length > 0) && [...content].length <= MAX_LENGTH;
  return (
    <form className="edit-box" onSubmit={(event) => { event.preventDefault(); if (valid) onSave(content); }}>
      <label className="visually-hidden" htmlFor="chat-edit">{t("chatx.editLabel")}</label>
      <textarea id="chat-edit" value={text} autoFocus rows={2} onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Escape") { event.preventDefault(); onCancel(); }
          if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) { event.preventDefault(); if (valid) onSave(content); }
        }} />
      <div className="row">
        <Button size="s" type="submit" disabled={!valid}>{t("roomUi.save")}</Button>
        <Button size="s" variant="ghost" onClick={onCancel}>{t("app.cancel")}</Button>
      </div>
    </form>
  );
}

function ChatSearch({ studyId, onClose }: { studyId: string; onClose: () => void }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const [q, setQ] = useState("");
  const [submitted, setSubmitted] = useState("");
  const results = useChatSearch(studyId, submitted);
  return (
    <div className="chat-search" role="search">
      <form className="row" onSubmit={(event) => { event.preventDefault(); setSubmitted(q); }}>
        <label className="visually-hidden" htmlFor="chat-search-input">{t("chatx.searchLabel")}</label>
        <input id="chat-search-input" type="search" value={q} maxLength={100} autoFocus placeholder={t("chatx.searchLabel")}
          onChange={(event) => setQ(event.target.value)} onKeyDown={(event) => { if (event.key === "Escape") onClose(); }} />
        <Button size="s" type="submit" disabled={!q.trim()}>{t("chatx.search")}</Button>
        <Button size="s" variant="ghost" onClick={onClose}>{t("app.close")}</Button>
      </form>
      {submitted.trim() && (
        <div className="chat-search-results" aria-live="polite">
          {results.isPending ? <Skeleton count={2} /> : results.isError ? <p className="error-text">{errorText(results.error, t)}</p>
            : results.data.data.length === 0 ? <p className="muted small">{t("chatx.noResults")}</p> : (
              <ul className="plain-list" aria-label={t("chatx.results", { count: results.data.pagination.total })}>
                {results.data.data.map((message) => (
                  <li key={message.id} className="search-hit">
                    <div className="small muted">{message.user.name} · {formatDay(message.created_at, language, timeZone)} {formatTime(message.created_at, language, timeZone)}</div>
                    <div className="pre-line">{message.content || (message.file ? `📎 ${message.file.name}` : "")}</div>
                  </li>
                ))}
              </ul>
            )}
        </div>
      )}
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

function Composer({ studyId, onSend, onTyping, onSent }: { studyId: string; onSend: (text: string) => void; onTyping: (typing: boolean) => void; onSent: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const sendFile = useSendFile(studyId);
  const fileInput = useRef<HTMLInputElement>(null);
  const [upload, setUpload] = useState<{ name: string; progress: number; abort: AbortController } | null>(null);
  const [text, setText] = useState("");
  const attach = (file: File | undefined) => {
    if (!file) return;
    const abort = new AbortController();
    const caption = [...text.trim()].length <= MAX_LENGTH ? text.trim() : "";
    setUpload({ name: file.name, progress: 0, abort });
    onSent();
    sendFile(file, caption, (progress) => setUpload((now) => now && { ...now, progress }), abort.signal).then(() => {
      if (caption) setText("");
      onTyping(false);
    }, (error) => {
      if (!(error instanceof DOMException && error.name === "AbortError")) toast(errorText(error, t), "error");
    }).finally(() => {
      setUpload(null);
      if (fileInput.current) fileInput.current.value = "";
    });
  };
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
      {upload && (
        <div className="composer-upload row">
          <span className="small ellipsis grow">📎 {upload.name}</span>
          <progress max={100} value={Math.round(upload.progress * 100)} aria-label={t("chatx.uploading", { name: upload.name })} />
          <Button size="s" variant="ghost" onClick={() => upload.abort.abort()}>{t("app.cancel")}</Button>
        </div>
      )}
      <input ref={fileInput} id="chat-file" type="file" className="visually-hidden" onChange={(event) => attach(event.target.files?.[0])} />
      <label htmlFor="chat-file" className="btn btn-ghost icon-btn attach-btn" title={t("chatx.attach")}>
        <span aria-hidden="true">📎</span><span className="visually-hidden">{t("chatx.attach")}</span>
      </label>
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
