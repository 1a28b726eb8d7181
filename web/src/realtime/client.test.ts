import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff";
import { RealtimeClient } from "./client";
import { SOCKET_OPEN, type SocketLike } from "./types";

/** A server end we script by hand: it records frames and can push, reply and close. */
class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;

  send(data: string): void { this.sent.push(JSON.parse(data)); }
  close(): void { this.readyState = 3; }

  open(user = { id: "u1", name: "하나", avatar: null }, unread = 0): void {
    this.readyState = SOCKET_OPEN;
    this.onopen?.({});
    this.push("hello", { session_id: "s1", user, node: "n1", heartbeat_ms: 25_000, limits: {},
      unread_notifications: unread });
  }
  push(event: string, data: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify({ event, data }) });
  }
  reply(ref: unknown, data: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify({ event: "reply", ref, ok: true, data }) });
  }
  replyError(ref: unknown, code: string, message = code): void {
    this.onmessage?.({ data: JSON.stringify({ event: "reply", ref, ok: false, error: { code, message } }) });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  frames(event: string): Record<string, unknown>[] { return this.sent.filter((frame) => frame.event === event); }
  last(event: string): Record<string, unknown> {
    const frames = this.frames(event);
    const frame = frames[frames.length - 1];
    if (!frame) throw new Error(`no ${event} frame sent`);
    return frame;
  }
}

function message(seq: number, content: string, clientId = `c-${seq}`) {
  return { id: `m${seq}`, client_id: clientId, study_id: "st", seq, content,
    user: { id: "u2", name: "둘", avatar: null }, file: null, created_at: "2025-03-01T00:00:00.000Z",
    updated_at: "2025-03-01T00:00:00.000Z", edited: false };
}
const chatEvent = (seq: number, content = `m${seq}`) =>
  ({ event: "chat:new-message", data: { study_id: "st", seq, message: message(seq, content) } });

function setup() {
  const sockets: FakeSocket[] = [];
  let ids = 0;
  const client = new RealtimeClient({
    url: "ws://test/ws",
    createSocket: () => { const socket = new FakeSocket(); sockets.push(socket); return socket; },
    random: () => 0.5,
    newClientId: () => `client-${++ids}`,
  });
  const delivered: number[] = [];
  const contents: string[] = [];
  client.on("studyEvent", (event) => {
    delivered.push(event.seq);
    const m = event.data.message as { content?: string } | undefined;
    if (m?.content) contents.push(m.content);
  });
  const states: string[] = [];
  client.on("state", ({ state }) => states.push(state));
  const current = () => sockets[sockets.length - 1]!;
  return { client, sockets, current, delivered, contents, states };
}

/** Connect, subscribe to study "st" and answer the join with `seq`. */
function joined(seq = 10) {
  const env = setup();
  env.client.connect();
  env.current().open();
  env.client.subscribe("st");
  const join = env.current().last("study:join");
  env.current().reply(join.ref, { study_id: "st", seq, online: [], call: null, missed: [], recovered: true });
  return env;
}

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

describe("connection state machine", () => {
  it("goes connecting → connected on hello, and reconnecting with backoff when dropped", () => {
    const { client, current, sockets, states } = setup();
    client.connect();
    expect(client.state).toBe("connecting");
    current().open();
    expect(client.state).toBe("connected");
    current().drop();
    expect(client.state).toBe("reconnecting");
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5));
    expect(sockets).toHaveLength(2);
    current().open();
    expect(states).toEqual(["connecting", "connected", "reconnecting", "connected"]);
  });

  it("backs off exponentially with jitter, capped, and resets after hello", () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(250);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 1)).toBe(500);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 1)).toBe(4000);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
    const { client, current, sockets } = setup();
    client.connect();
    current().drop();
    vi.advanceTimersByTime(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5));
    current().drop();
    // The second retry waits for attempt 1's delay, not attempt 0's.
    vi.advanceTimersByTime(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5));
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(backoffDelay(1, DEFAULT_BACKOFF, () => 0.5));
    expect(sockets).toHaveLength(3);
  });

  it("stops for good when the server closes with 1008 (revoked session)", () => {
    const { client, current, sockets } = setup();
    const ended = vi.fn();
    client.on("sessionEnded", ended);
    client.connect();
    current().open();
    current().drop(1008);
    expect(client.state).toBe("closed");
    expect(ended).toHaveBeenCalledWith({ code: 1008, reason: "" });
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it("treats a request with no reply as a dead connection and reconnects", async () => {
    const { client, current, sockets } = setup();
    client.connect();
    current().open();
    const ping = client.request("ping", {});
    vi.advanceTimersByTime(15_000);
    await expect(ping).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(client.state).toBe("reconnecting");
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    expect(sockets).toHaveLength(2);
  });

  it("goes down when the browser goes offline and reconnects at once when it is back", () => {
    const { client, current, sockets } = setup();
    client.connect();
    current().open();
    client.setNetworkOnline(false);
    expect(client.state).toBe("reconnecting");
    client.setNetworkOnline(true);
    expect(sockets).toHaveLength(2);
  });
});

describe("rooms: since, dedupe, order, gaps", () => {
  it("rejoins after a reconnect with since = the last seq seen", () => {
    const { client, current } = joined(10);
    current().push("chat:new-message", chatEvent(11).data);
    current().drop();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    current().open();
    expect(current().last("study:join").data).toEqual({ study_id: "st", since: 11 });
    expect(client.lastSeq("st")).toBe(11);
  });

  it("delivers the replayed missed events after a reconnect once each, in order", () => {
    const { current, delivered } = joined(10);
    current().push("chat:new-message", chatEvent(11).data);
    current().drop();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    current().open();
    const join = current().last("study:join");
    // The server replays 11 again (already seen) along with what was missed.
    current().reply(join.ref, { study_id: "st", seq: 13, online: [], call: null, recovered: true,
      missed: [chatEvent(11), chatEvent(12), chatEvent(13)] });
    current().push("chat:new-message", chatEvent(13).data); // and a late live copy
    expect(delivered).toEqual([11, 12, 13]);
  });

  it("drops duplicates and holds early events until the gap is filled", () => {
    const { current, delivered } = joined(10);
    current().push("chat:new-message", chatEvent(11).data);
    current().push("chat:new-message", chatEvent(11).data);
    current().push("chat:new-message", chatEvent(13).data); // 12 is missing
    expect(delivered).toEqual([11]);
    // The client asks for what it lacks.
    const gapJoin = current().last("study:join");
    expect(gapJoin.data).toEqual({ study_id: "st", since: 11 });
    current().reply(gapJoin.ref, { study_id: "st", seq: 13, online: [], call: null, recovered: true,
      missed: [chatEvent(12), chatEvent(13)] });
    expect(delivered).toEqual([11, 12, 13]);
  });

  it("asks for a history reload when the server cannot recover", () => {
    const { current, client, delivered } = joined(10);
    const resync = vi.fn();
    client.on("resync", resync);
    current().drop();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    current().open();
    const join = current().last("study:join");
    current().reply(join.ref, { study_id: "st", seq: 5000, online: [], call: null, missed: [], recovered: false });
    expect(resync).toHaveBeenCalledWith({ studyId: "st", seq: 5000 });
    current().push("chat:new-message", chatEvent(5001).data);
    expect(delivered).toEqual([5001]);
  });

  it("ignores non-durable pushes for ordering (read receipts carry a seq too)", () => {
    const { current, client, delivered } = joined(10);
    const reads = vi.fn();
    client.on("read", reads);
    current().push("chat:message-read", { study_id: "st", user_id: "u2", seq: 40 });
    current().push("chat:new-message", chatEvent(11).data);
    expect(reads).toHaveBeenCalledWith({ studyId: "st", userId: "u2", seq: 40 });
    expect(delivered).toEqual([11]);
  });
});

describe("chat outbox: acks and resend", () => {
  it("re-sends an unacknowledged message with the same client_id after a reconnect", async () => {
    const { client, current } = joined(10);
    const { clientId, acked } = client.sendChat("st", "안녕하세요");
    const first = current().last("chat:message");
    expect(first.data).toEqual({ study_id: "st", content: "안녕하세요", client_id: clientId });
    expect(client.outbox("st")[0]?.status).toBe("pending");
    current().drop(); // the reply never came
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    current().open();
    expect(current().frames("chat:message")).toHaveLength(0); // not before the room is rejoined
    const join = current().last("study:join");
    current().reply(join.ref, { study_id: "st", seq: 11, online: [], call: null, recovered: true,
      missed: [chatEvent(11)] });
    const resent = current().last("chat:message");
    expect(resent.data).toEqual(first.data);
    current().reply(resent.ref, { message: message(11, "안녕하세요", clientId), seq: 11 });
    await expect(acked).resolves.toMatchObject({ id: "m11" });
    expect(client.outbox("st")).toEqual([]);
  });

  it("queues a message written while offline and sends it once connected", () => {
    const { client, current } = joined(10);
    current().drop();
    client.sendChat("st", "오프라인에서 쓴 글");
    expect(client.outbox("st")[0]?.status).toBe("pending");
    vi.advanceTimersByTime(DEFAULT_BACKOFF.maxMs);
    current().open();
    const join = current().last("study:join");
    current().reply(join.ref, { study_id: "st", seq: 10, online: [], call: null, recovered: true, missed: [] });
    expect(current().frames("chat:message")).toHaveLength(1);
  });

  it("marks a refused message failed, and retry sends it again with the same client_id", () => {
    const { client, current } = joined(10);
    const { clientId } = client.sendChat("st", "too fast");
    current().replyError(current().last("chat:message").ref, "RATE_LIMITED");
    expect(client.outbox("st")[0]).toMatchObject({ clientId, status: "failed", error: { code: "RATE_LIMITED" } });
    client.retryChat(clientId);
    expect(current().frames("chat:message")).toHaveLength(2);
    expect(current().last("chat:message").data).toMatchObject({ client_id: clientId });
  });
});

describe("presence, typing, notifications", () => {
  it("tracks who is online from the join reply and user:online/offline", () => {
    const { client, current } = joined(10);
    current().push("user:online", { study_id: "st", user: { id: "u2", name: "둘", avatar: null } });
    expect(client.online("st").map((user) => user.id)).toEqual(["u2"]);
    current().push("user:offline", { study_id: "st", user_id: "u2" });
    expect(client.online("st")).toEqual([]);
  });

  it("expires a typing indicator after 6 s and clears it when the user's message arrives", () => {
    const { client, current } = joined(10);
    const typist = { id: "u2", name: "둘", avatar: null };
    current().push("chat:user-typing", { study_id: "st", user: typist, is_typing: true });
    expect(client.typingUsers("st")).toEqual([typist]);
    vi.advanceTimersByTime(6000);
    expect(client.typingUsers("st")).toEqual([]);
    current().push("chat:user-typing", { study_id: "st", user: typist, is_typing: true });
    current().push("chat:new-message", chatEvent(11).data);
    expect(client.typingUsers("st")).toEqual([]);
  });

  it("sends typing true at most every 3 s", () => {
    const { client, current } = joined(10);
    client.setTyping("st", true);
    client.setTyping("st", true);
    expect(current().frames("chat:typing")).toHaveLength(1);
    vi.advanceTimersByTime(3000);
    client.setTyping("st", true);
    client.setTyping("st", false);
    expect(current().frames("chat:typing").map((frame) => (frame.data as { is_typing: boolean }).is_typing))
      .toEqual([true, true, false]);
  });

  it("reports the unread count from hello and pushes", () => {
    const { client, current } = setup();
    const counts: number[] = [];
    client.on("unreadCount", (count) => counts.push(count));
    client.connect();
    current().open(undefined, 3);
    current().push("notification:unread-count", { unread: 4 });
    expect(counts).toEqual([3, 4]);
  });
});

describe("generic pushes for features (video signalling)", () => {
  it("says whether the room is joined and hands one push kind to its listener", () => {
    const { client, current } = joined(10);
    expect(client.isJoined("st")).toBe(true);
    const offers: Record<string, unknown>[] = [];
    const off = client.onEvent("video:offer", (data) => offers.push(data));
    current().push("video:offer", { study_id: "st", from: "s2", sdp: "x" });
    current().push("video:answer", { study_id: "st", from: "s2", sdp: "y" });
    off();
    current().push("video:offer", { study_id: "st", from: "s3", sdp: "z" });
    expect(offers).toEqual([{ study_id: "st", from: "s2", sdp: "x" }]);
    current().drop();
    expect(client.isJoined("st")).toBe(false);
  });
});
