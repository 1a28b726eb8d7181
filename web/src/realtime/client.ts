// The realtime client: one WebSocket per tab, modelled on centrifuge-js (no React, no DOM).
//
// - An explicit state machine (types.ts ConnectionState), reported through "state" events.
// - Reconnects with jittered exponential backoff; the attempt count resets on `hello`.
// - Remembers the last durable seq seen per study and rejoins with `since`, so the server
//   replays what was missed; `recovered: false` asks the app to reload history ("resync").
// - Durable events reach the app once each and in seq order: duplicates are dropped, early
//   ones wait for the gap to fill, and a gap asks the server again (`study:join {since}`).
// - Chat messages stay in an outbox until acknowledged and are re-sent with the same
//   client_id after a reconnect, which the server answers idempotently (PROTOCOL §5).
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { Emitter } from "./emitter";
import { TypingTracker } from "./typing";
import {
  RealtimeError, SOCKET_OPEN, type ConnectionState, type Hello, type JoinReply, type OutboxItem,
  type Push, type RealtimeErrorInfo, type RealtimeUser, type SocketLike,
} from "./types";

export const DURABLE_EVENT = /^(chat:(new-message|message-updated|message-deleted)|study:(member-joined|member-left|member-updated|updated|deleted)|(notice|file|event|task):(created|updated|deleted))$/;

// Close codes after which reconnecting is pointless or harmful (PROTOCOL §2).
const CLOSE_POLICY = 1008; // revoked session, suspended account, too many connections
const CLOSE_AUTH = 4001;
const CLOSE_TOO_MANY = 4029;
const CLOSE_CLIENT_TIMEOUT = 4000; // our own: the server stopped answering
const EMPTY: RealtimeUser[] = [];
const TYPING_RESEND_MS = 3000; // the server forwards one `true` per 3 s anyway (PROTOCOL §5)

export interface RealtimeEvents {
  [name: string]: unknown;
  state: { state: ConnectionState; previous: ConnectionState; retryInMs?: number };
  hello: Hello;
  /** A durable study event, delivered once and in seq order. */
  studyEvent: { studyId: string; seq: number; event: string; data: Record<string, unknown> };
  /** The server could not replay what was missed: reload the study's history over REST. */
  resync: { studyId: string; seq: number };
  joined: { studyId: string; seq: number };
  presence: { studyId: string; online: RealtimeUser[] };
  typing: { studyId: string; users: RealtimeUser[] };
  read: { studyId: string; userId: string; seq: number };
  removed: { studyId: string; reason: string };
  chatAck: { studyId: string; clientId: string; message: Record<string, unknown> };
  outbox: { studyId: string; items: OutboxItem[] };
  notification: Record<string, unknown>;
  unreadCount: number;
  sessionEnded: { code: number; reason: string };
  /** Every other push (video, presence status, errors), for features that want them. */
  push: Push;
}

export interface RealtimeOptions {
  url: string;
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  random?: () => number;
  /** A request with no reply in this time counts as a dead connection. */
  requestTimeoutMs?: number;
  /** App-level ping period; default: the server's heartbeat_ms from hello. */
  pingIntervalMs?: number;
  newClientId?: () => string;
}

interface PendingRequest {
  resolve: (data: Record<string, unknown>) => void;
  reject: (error: RealtimeError) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Room {
  studyId: string;
  subscribers: number;
  /** The highest seq delivered to the app; null until the first join reply sets it. */
  lastSeq: number | null;
  joined: boolean;
  joining: boolean;
  /** Durable events that arrived ahead of a gap, by seq. */
  early: Map<number, Push>;
  online: Map<string, RealtimeUser>;
  onlineList: RealtimeUser[];
  readSent: number;
  typingSentAt: number;
}

export class RealtimeClient extends Emitter<RealtimeEvents> {
  private readonly options: Required<Omit<RealtimeOptions, "pingIntervalMs">> & { pingIntervalMs?: number };
  private socket: SocketLike | null = null;
  private stateValue: ConnectionState = "idle";
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private nextRef = 1;
  private readonly requests = new Map<number, PendingRequest>();
  private readonly rooms = new Map<string, Room>();
  private readonly outboxItems = new Map<string, OutboxItem>();
  private readonly outboxLists = new Map<string, OutboxItem[]>();
  private readonly inflight = new Set<string>();
  private readonly waiters = new Map<string, { resolve: (m: Record<string, unknown>) => void;
    reject: (e: RealtimeError) => void }>();
  private readonly typing: TypingTracker;
  private helloData: Hello | null = null;

  constructor(options: RealtimeOptions) {
    super();
    this.options = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      backoff: DEFAULT_BACKOFF,
      random: Math.random,
      requestTimeoutMs: 15_000,
      newClientId: () => crypto.randomUUID(),
      ...options,
    };
    this.typing = new TypingTracker((studyId, users) => this.emit("typing", { studyId, users }));
  }

  get state(): ConnectionState { return this.stateValue; }
  get hello(): Hello | null { return this.helloData; }

  /** Start (or restart after disconnect()) connecting. */
  connect(): void {
    if (this.socket || this.retryTimer) return;
    this.setState(this.stateValue === "idle" || this.stateValue === "closed" ? "connecting" : "reconnecting");
    this.openSocket();
  }

  /** Stop for good (sign-out): no reconnect; the outbox is kept for a later connect(). */
  disconnect(): void {
    this.clearRetry();
    const socket = this.socket;
    this.dropSocket();
    socket?.close(1000, "client closed");
    this.failRequests("DISCONNECTED");
    this.setState("closed");
  }

  /** The browser's online/offline signal: go down at once, and retry at once when back. */
  setNetworkOnline(online: boolean): void {
    if (this.stateValue === "closed" || this.stateValue === "idle") return;
    if (!online) {
      if (this.socket) this.lose();
      return;
    }
    if (!this.socket) {
      this.clearRetry();
      this.attempt = 0;
      this.openSocket();
    }
  }

  // --- rooms ----------------------------------------------------------------------------------

  /** Follow a study's room while at least one subscriber holds it; returns the release. */
  subscribe(studyId: string): () => void {
    const room = this.room(studyId);
    room.subscribers += 1;
    if (room.subscribers === 1) this.join(room);
    return () => {
      room.subscribers -= 1;
      if (room.subscribers > 0) return;
      const wasJoined = room.joined;
      room.joined = false;
      if (wasJoined && this.isOpen()) this.request("study:leave", { study_id: studyId }).catch(() => {});
    };
  }

  /** Whether this connection is in the study's room right now (every `video:*` frame needs it). */
  isJoined(studyId: string): boolean { return this.rooms.get(studyId)?.joined ?? false; }

  /** Listen for one kind of non-durable push (e.g. "video:offer"); returns the unsubscribe. */
  onEvent(event: string, listener: (data: Record<string, unknown>) => void): () => void {
    return this.on("push", (push) => { if (push.event === event) listener(push.data); });
  }

  lastSeq(studyId: string): number | null { return this.rooms.get(studyId)?.lastSeq ?? null; }
  // The snapshots below keep their identity until they change (React's useSyncExternalStore).
  online(studyId: string): RealtimeUser[] { return this.rooms.get(studyId)?.onlineList ?? EMPTY; }
  typingUsers(studyId: string): RealtimeUser[] { return this.typing.users(studyId); }

  // --- chat -----------------------------------------------------------------------------------

  /** Queue a message; it is sent now if possible, and re-sent after reconnects until acked. */
  sendChat(studyId: string, content: string): { clientId: string; acked: Promise<Record<string, unknown>> } {
    const clientId = this.options.newClientId();
    this.outboxItems.set(clientId, { clientId, studyId, content, createdAt: Date.now(), status: "pending" });
    const acked = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiters.set(clientId, { resolve, reject });
    });
    acked.catch(() => {}); // a failure is shown through the outbox; nobody has to await this
    this.emitOutbox(studyId);
    this.flushOutbox(studyId);
    this.stopTyping(studyId);
    return { clientId, acked };
  }

  retryChat(clientId: string): void {
    const item = this.outboxItems.get(clientId);
    if (!item || item.status !== "failed") return;
    this.outboxItems.set(clientId, { ...item, status: "pending", error: undefined });
    this.emitOutbox(item.studyId);
    this.flushOutbox(item.studyId);
  }

  discardChat(clientId: string): void {
    const item = this.outboxItems.get(clientId);
    if (!item || this.inflight.has(clientId)) return;
    this.outboxItems.delete(clientId);
    this.waiters.get(clientId)?.reject(new RealtimeError({ code: "DISCARDED", message: "discarded" }));
    this.waiters.delete(clientId);
    this.emitOutbox(item.studyId);
  }

  outbox(studyId: string): OutboxItem[] {
    let items = this.outboxLists.get(studyId);
    if (!items) {
      items = [...this.outboxItems.values()].filter((item) => item.studyId === studyId);
      this.outboxLists.set(studyId, items);
    }
    return items;
  }

  /** Typing indicator: `true` at most every 3 s, `false` only after a `true`. */
  setTyping(studyId: string, isTyping: boolean): void {
    const room = this.rooms.get(studyId);
    if (!room?.joined || !this.isOpen()) return;
    const now = Date.now();
    if (isTyping) {
      if (now - room.typingSentAt < TYPING_RESEND_MS) return;
      room.typingSentAt = now;
      this.sendFrame({ event: "chat:typing", data: { study_id: studyId, is_typing: true } });
    } else {
      this.stopTyping(studyId);
    }
  }

  /** Move the read cursor (never backwards; PROTOCOL §5 chat:read). */
  markRead(studyId: string, seq: number): void {
    const room = this.rooms.get(studyId);
    if (!room?.joined || seq <= room.readSent || !this.isOpen()) return;
    room.readSent = seq;
    this.request("chat:read", { study_id: studyId, seq }).catch(() => { room.readSent = 0; });
  }

  // --- requests -------------------------------------------------------------------------------

  /** Send a frame with a ref and wait for its one reply. */
  request(event: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => this.call(event, data, resolve, reject));
  }

  /**
   * The callback form used inside the client: a reply is handled synchronously, before the
   * next frame, so a join reply is always applied before the live events that follow it.
   */
  private call(event: string, data: Record<string, unknown>,
    onReply: (data: Record<string, unknown>) => void, onError: (error: RealtimeError) => void): void {
    if (!this.isOpen() || !this.helloData) {
      onError(new RealtimeError({ code: "DISCONNECTED", message: "not connected" }));
      return;
    }
    const ref = this.nextRef++;
    const timer = setTimeout(() => {
      this.requests.delete(ref);
      onError(new RealtimeError({ code: "TIMEOUT", message: `${event} got no reply` }));
      // A server that does not answer is as good as gone: start over and resume.
      if (this.isOpen()) this.lose(CLOSE_CLIENT_TIMEOUT);
    }, this.options.requestTimeoutMs);
    this.requests.set(ref, { resolve: onReply, reject: onError, timer });
    this.sendFrame({ event, data, ref });
  }

  // --- connection -----------------------------------------------------------------------------

  private openSocket(): void {
    const socket = this.options.createSocket(this.options.url);
    this.socket = socket;
    socket.onmessage = (message) => { if (this.socket === socket) this.onFrame(message.data); };
    socket.onclose = (close) => { if (this.socket === socket) this.onClose(close.code, close.reason); };
    socket.onerror = () => {}; // a close always follows
    socket.onopen = () => {}; // cookie auth: the server speaks first, with hello
  }

  private onFrame(raw: unknown): void {
    let frame: { event?: string; ref?: number; ok?: boolean; data?: Record<string, unknown>;
      error?: { code: string; message: string; retry_after_ms?: number } };
    try {
      frame = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (frame.event === "reply" && typeof frame.ref === "number") {
      const pending = this.requests.get(frame.ref);
      if (!pending) return;
      this.requests.delete(frame.ref);
      clearTimeout(pending.timer);
      if (frame.ok) pending.resolve(frame.data ?? {});
      else pending.reject(new RealtimeError(toErrorInfo(frame.error)));
      return;
    }
    const push: Push = { event: frame.event ?? "", data: frame.data ?? {} };
    this.onPush(push);
  }

  private onPush(push: Push): void {
    const { event, data } = push;
    const studyId = typeof data.study_id === "string" ? data.study_id : null;
    if (event === "hello") return this.onHello(data as unknown as Hello);
    if (studyId && DURABLE_EVENT.test(event)) {
      const room = this.rooms.get(studyId);
      if (room) this.acceptDurable(room, push);
      return;
    }
    switch (event) {
      case "study:online-users":
        if (studyId) this.setOnline(studyId, (data.users as RealtimeUser[]) ?? []);
        return;
      case "user:online":
        if (studyId) this.addOnline(studyId, data.user as RealtimeUser);
        return;
      case "user:offline":
        if (studyId) this.removeOnline(studyId, String(data.user_id));
        return;
      case "chat:user-typing":
        if (studyId) this.typing.update(studyId, data.user as RealtimeUser, Boolean(data.is_typing));
        return;
      case "chat:message-read":
        if (studyId) this.emit("read", { studyId, userId: String(data.user_id), seq: Number(data.seq) });
        return;
      case "study:removed":
        if (studyId) this.onRemoved(studyId, String(data.reason ?? ""));
        return;
      case "study:rejoin": {
        const room = studyId ? this.rooms.get(studyId) : undefined;
        if (room && room.subscribers > 0) this.join(room);
        return;
      }
      case "notification:new":
        this.emit("notification", (data.notification ?? {}) as Record<string, unknown>);
        return;
      case "notification:unread-count":
        this.emit("unreadCount", Number(data.unread ?? 0));
        return;
      default:
        this.emit("push", push);
    }
  }

  private onHello(hello: Hello): void {
    this.helloData = hello;
    this.attempt = 0;
    this.setState("connected");
    this.emit("hello", hello);
    this.emit("unreadCount", hello.unread_notifications);
    this.startPing(this.options.pingIntervalMs ?? hello.heartbeat_ms);
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.joining = false;
      room.readSent = 0;
      if (room.subscribers > 0) this.join(room);
    }
  }

  private onClose(code: number, reason: string): void {
    this.dropSocket();
    this.failRequests("DISCONNECTED");
    if (code === CLOSE_POLICY || code === CLOSE_AUTH) {
      this.setState("closed");
      this.emit("sessionEnded", { code, reason });
      return;
    }
    this.scheduleReconnect(code === CLOSE_TOO_MANY ? 3 : 0);
  }

  /** The connection is dead (offline, or no answer): close it ourselves and reconnect. */
  private lose(code = 4002): void {
    const socket = this.socket;
    this.dropSocket();
    try { socket?.close(code, "connection lost"); } catch { /* already closed */ }
    this.failRequests("DISCONNECTED");
    this.scheduleReconnect(0);
  }

  private scheduleReconnect(extraAttempts: number): void {
    this.clearRetry();
    const delay = backoffDelay(this.attempt + extraAttempts, this.options.backoff, this.options.random);
    this.attempt += 1;
    this.setState("reconnecting", delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.openSocket();
    }, delay);
  }

  private dropSocket(): void {
    if (this.socket) {
      this.socket.onmessage = null;
      this.socket.onclose = null;
      this.socket = null;
    }
    this.helloData = null;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const room of this.rooms.values()) { room.joined = false; room.joining = false; }
    this.typing.clear();
  }

  private startPing(intervalMs: number): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => { this.request("ping", {}).catch(() => {}); }, intervalMs);
  }

  // --- rooms and ordering ---------------------------------------------------------------------

  private room(studyId: string): Room {
    let room = this.rooms.get(studyId);
    if (!room) {
      room = { studyId, subscribers: 0, lastSeq: null, joined: false, joining: false,
        early: new Map(), online: new Map(), onlineList: EMPTY, readSent: 0, typingSentAt: 0 };
      this.rooms.set(studyId, room);
    }
    return room;
  }

  private join(room: Room): void {
    if (!this.isOpen() || !this.helloData || room.joining) return;
    room.joining = true;
    const data: Record<string, unknown> = { study_id: room.studyId };
    if (room.lastSeq !== null) data.since = room.lastSeq;
    this.call("study:join", data,
      (reply) => this.onJoined(room, reply as unknown as JoinReply),
      (error) => {
        room.joining = false;
        if (error.code === "FORBIDDEN" || error.code === "NOT_FOUND") this.onRemoved(room.studyId, "forbidden");
      });
  }

  private onJoined(room: Room, reply: JoinReply): void {
    room.joining = false;
    if (room.subscribers === 0) {
      this.request("study:leave", { study_id: room.studyId }).catch(() => {});
      return;
    }
    room.joined = true;
    this.setOnline(room.studyId, reply.online ?? []);
    if (!reply.recovered) {
      // Too much was missed to replay: start from the server's seq and reload over REST.
      room.lastSeq = reply.seq;
      for (const seq of [...room.early.keys()]) if (seq <= reply.seq) room.early.delete(seq);
      this.emit("resync", { studyId: room.studyId, seq: reply.seq });
    } else if (room.lastSeq === null) {
      room.lastSeq = reply.seq;
    }
    for (const push of reply.missed ?? []) this.acceptDurable(room, push, false);
    this.deliverReady(room);
    this.emit("joined", { studyId: room.studyId, seq: room.lastSeq ?? reply.seq });
    this.flushOutbox(room.studyId);
  }

  private acceptDurable(room: Room, push: Push, fillGaps = true): void {
    const seq = Number(push.data.seq);
    if (!Number.isInteger(seq)) return;
    if (room.lastSeq !== null && seq <= room.lastSeq) return; // seen already
    room.early.set(seq, push);
    if (room.lastSeq === null) return; // the join reply sets the starting point
    this.deliverReady(room);
    if (fillGaps && room.early.size > 0) this.join(room); // a hole: ask for what is missing
  }

  private deliverReady(room: Room): void {
    if (room.lastSeq === null) return;
    for (const seq of [...room.early.keys()]) if (seq <= room.lastSeq) room.early.delete(seq);
    let next = room.early.get(room.lastSeq + 1);
    while (next) {
      room.early.delete(room.lastSeq + 1);
      room.lastSeq += 1;
      this.deliver(room, next);
      next = room.early.get(room.lastSeq + 1);
    }
  }

  private deliver(room: Room, push: Push): void {
    if (push.event === "chat:new-message") {
      const message = push.data.message as { user?: RealtimeUser } | undefined;
      if (message?.user) this.typing.update(room.studyId, message.user, false);
    }
    this.emit("studyEvent", { studyId: room.studyId, seq: room.lastSeq ?? 0, event: push.event, data: push.data });
  }

  private onRemoved(studyId: string, reason: string): void {
    const room = this.rooms.get(studyId);
    if (room) { room.joined = false; room.early.clear(); room.online.clear(); room.onlineList = EMPTY; }
    for (const item of this.outbox(studyId)) {
      this.failItem(item, { code: "FORBIDDEN", message: reason });
    }
    this.emit("removed", { studyId, reason });
  }

  private setOnline(studyId: string, users: RealtimeUser[]): void {
    const room = this.room(studyId);
    room.online = new Map(users.map((user) => [user.id, user]));
    this.emitPresence(room);
  }

  private addOnline(studyId: string, user: RealtimeUser): void {
    const room = this.room(studyId);
    room.online.set(user.id, user);
    this.emitPresence(room);
  }

  private removeOnline(studyId: string, userId: string): void {
    const room = this.room(studyId);
    if (!room.online.delete(userId)) return;
    this.emitPresence(room);
  }

  private emitPresence(room: Room): void {
    room.onlineList = [...room.online.values()];
    this.emit("presence", { studyId: room.studyId, online: room.onlineList });
  }

  // --- outbox ---------------------------------------------------------------------------------

  private flushOutbox(studyId: string): void {
    const room = this.rooms.get(studyId);
    if (!room?.joined || !this.isOpen()) return;
    for (const item of this.outbox(studyId)) {
      if (item.status === "pending" && !this.inflight.has(item.clientId)) this.sendItem(item);
    }
  }

  private sendItem(item: OutboxItem): void {
    this.inflight.add(item.clientId);
    this.call("chat:message", { study_id: item.studyId, content: item.content, client_id: item.clientId },
      (reply) => {
        this.inflight.delete(item.clientId);
        this.outboxItems.delete(item.clientId);
        const message = (reply.message ?? {}) as Record<string, unknown>;
        this.emit("chatAck", { studyId: item.studyId, clientId: item.clientId, message });
        this.waiters.get(item.clientId)?.resolve(message);
        this.waiters.delete(item.clientId);
        this.emitOutbox(item.studyId);
      }, (error) => {
        this.inflight.delete(item.clientId);
        // Lost with the connection: it stays pending and goes again after the rejoin.
        if (error.code === "DISCONNECTED" || error.code === "TIMEOUT") return;
        this.failItem(item, error);
      });
  }

  private failItem(item: OutboxItem, error: RealtimeErrorInfo): void {
    if (!this.outboxItems.has(item.clientId)) return;
    this.outboxItems.set(item.clientId, { ...item, status: "failed",
      error: { code: error.code, message: error.message, retryAfterMs: error.retryAfterMs } });
    this.emitOutbox(item.studyId);
  }

  private emitOutbox(studyId: string): void {
    this.outboxLists.delete(studyId);
    this.emit("outbox", { studyId, items: this.outbox(studyId) });
  }

  private stopTyping(studyId: string): void {
    const room = this.rooms.get(studyId);
    if (!room || room.typingSentAt === 0) return;
    room.typingSentAt = 0;
    if (room.joined && this.isOpen()) {
      this.sendFrame({ event: "chat:typing", data: { study_id: studyId, is_typing: false } });
    }
  }

  // --- plumbing -------------------------------------------------------------------------------

  private isOpen(): boolean { return this.socket !== null && this.socket.readyState === SOCKET_OPEN; }

  private sendFrame(frame: Record<string, unknown>): void {
    try { this.socket?.send(JSON.stringify(frame)); } catch { /* the close event follows */ }
  }

  private failRequests(code: string): void {
    for (const [ref, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(new RealtimeError({ code, message: "connection closed" }));
      this.requests.delete(ref);
    }
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private setState(state: ConnectionState, retryInMs?: number): void {
    const previous = this.stateValue;
    if (previous === state && retryInMs === undefined) return;
    this.stateValue = state;
    this.emit("state", { state, previous, retryInMs });
  }
}

function toErrorInfo(error: { code: string; message: string; retry_after_ms?: number } | undefined): RealtimeErrorInfo {
  return { code: error?.code ?? "INTERNAL", message: error?.message ?? "", retryAfterMs: error?.retry_after_ms };
}
