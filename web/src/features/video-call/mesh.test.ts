import { describe, expect, it } from "vitest";
import { Mesh, type MediaAccess, type PeerLike, type Signalling } from "./mesh";

const flush = async () => { for (let i = 0; i < 10; i += 1) await Promise.resolve(); };

class FakeTrack {
  enabled = true;
  stopped = false;
  onended: (() => void) | null = null;
  constructor(readonly kind: string, readonly label: string) {}
  stop() { this.stopped = true; }
}

class FakeStream {
  constructor(readonly tracks: FakeTrack[]) {}
  getTracks() { return this.tracks; }
  getAudioTracks() { return this.tracks.filter((t) => t.kind === "audio"); }
  getVideoTracks() { return this.tracks.filter((t) => t.kind === "video"); }
}

class FakeSender {
  constructor(public track: FakeTrack | null) {}
  async replaceTrack(track: FakeTrack | null) { this.track = track; }
}

/** A peer connection that follows the signalling state machine and nothing else. */
class FakePeer implements PeerLike {
  connectionState = "new";
  signalingState = "stable";
  remoteDescription: unknown = null;
  localDescription: { type: string; sdp?: string } | null = null;
  onicecandidate: PeerLike["onicecandidate"] = null;
  ontrack: PeerLike["ontrack"] = null;
  onconnectionstatechange: PeerLike["onconnectionstatechange"] = null;
  senders: FakeSender[] = [];
  candidates: unknown[] = [];
  closed = false;
  log: string[] = [];
  addTrack(track: MediaStreamTrack) { this.senders.push(new FakeSender(track as unknown as FakeTrack)); }
  getSenders() { return this.senders as unknown as ReturnType<PeerLike["getSenders"]>; }
  async createOffer() { return { type: "offer", sdp: "offer-sdp" }; }
  async createAnswer() { return { type: "answer", sdp: "answer-sdp" }; }
  async setLocalDescription(d?: { type: string; sdp?: string }) {
    this.log.push(`local:${d?.type}`);
    if (d?.type === "rollback") { this.signalingState = "stable"; this.localDescription = null; return; }
    this.localDescription = d ?? null;
    this.signalingState = d?.type === "offer" ? "have-local-offer" : "stable";
  }
  async setRemoteDescription(d: { type: string; sdp?: string }) {
    this.log.push(`remote:${d.type}`);
    if (d.type === "offer" && this.signalingState !== "stable") throw new Error("glare");
    this.remoteDescription = d;
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
  }
  async addIceCandidate(c: unknown) { this.candidates.push(c); }
  close() { this.closed = true; }
  setConnection(state: string) { this.connectionState = state; this.onconnectionstatechange?.(); }
}

function setup({ me = "s-me", participants = [] as string[], joinError = null as string | null } = {}) {
  const sent: { event: string; data: Record<string, unknown> }[] = [];
  const listeners = new Map<string, Set<(data: Record<string, unknown>) => void>>();
  const replies: Record<string, (data: Record<string, unknown>) => Promise<Record<string, unknown>>> = {
    "video:join-room": async () => {
      if (joinError) throw Object.assign(new Error(joinError), { code: joinError });
      return { participants: participants.map((sid) => ({ session_id: sid, user: { id: `u-${sid}`, name: sid, avatar: null },
        audio: true, video: true, screen: false })), ice_servers: [{ urls: ["stun:x"] }] };
    },
  };
  const signalling: Signalling = {
    request: (event, data) => { sent.push({ event, data }); return replies[event]?.(data) ?? Promise.resolve({}); },
    onEvent: (event, listener) => {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => { set.delete(listener); };
    },
    sessionId: () => me,
    isJoined: () => true,
    onJoined: () => () => {},
    onLost: () => () => {},
  };
  const push = (event: string, data: Record<string, unknown>) => {
    for (const listener of listeners.get(event) ?? []) listener({ study_id: "st", ...data });
  };
  const camera = new FakeTrack("video", "camera");
  const mic = new FakeTrack("audio", "mic");
  const screen = new FakeTrack("video", "screen");
  const media: MediaAccess = {
    getUserMedia: async () => new FakeStream([mic, camera]) as unknown as MediaStream,
    getDisplayMedia: async () => new FakeStream([screen]) as unknown as MediaStream,
  };
  const peers: FakePeer[] = [];
  const mesh = new Mesh({ studyId: "st", signalling, media, createPeer: () => { const p = new FakePeer(); peers.push(p); return p; } });
  const frames = (event: string) => sent.filter((f) => f.event === event).map((f) => f.data);
  return { mesh, sent, frames, push, peers, camera, mic, screen, replies, listeners };
}

describe("who offers", () => {
  it("the newcomer offers to every participant already in the call", async () => {
    const env = setup({ participants: ["s-a", "s-b"] });
    await env.mesh.join();
    await flush();
    expect(env.mesh.snapshot.status).toBe("in-call");
    expect(env.frames("video:offer").map((f) => f.to)).toEqual(["s-a", "s-b"]);
    expect(env.peers.map((p) => p.senders.map((s) => s.track?.kind))).toEqual([["audio", "video"], ["audio", "video"]]);
  });

  it("those in the call wait for the newcomer's offer and answer it", async () => {
    const env = setup();
    await env.mesh.join();
    env.push("video:user-joined", { session_id: "s-new", user: { id: "u2", name: "둘", avatar: null } });
    await flush();
    expect(env.frames("video:offer")).toEqual([]);
    expect(env.mesh.snapshot.peers.map((p) => p.sessionId)).toEqual(["s-new"]);
    env.push("video:offer", { from: "s-new", sdp: { type: "offer", sdp: "o" } });
    await flush();
    expect(env.frames("video:answer")).toEqual([{ study_id: "st", to: "s-new", sdp: { type: "answer", sdp: "answer-sdp" } }]);
    // Our tracks ride on the offer's transceivers: no second offer from our side.
    expect(env.peers[0]!.senders).toHaveLength(2);
    expect(env.frames("video:offer")).toEqual([]);
  });

  it("takes the answer to its own offer and reports the connection state", async () => {
    const env = setup({ participants: ["s-a"] });
    await env.mesh.join();
    await flush();
    env.push("video:answer", { from: "s-a", sdp: { type: "answer", sdp: "a" } });
    await flush();
    expect(env.peers[0]!.signalingState).toBe("stable");
    env.peers[0]!.setConnection("connected");
    expect(env.mesh.snapshot.peers[0]!.connectionState).toBe("connected");
  });
});

describe("glare", () => {
  it("the polite side (smaller session id) rolls its offer back and answers", async () => {
    const env = setup({ me: "s-a", participants: ["s-b"] });
    await env.mesh.join();
    await flush();
    expect(env.peers[0]!.signalingState).toBe("have-local-offer");
    env.push("video:offer", { from: "s-b", sdp: { type: "offer", sdp: "theirs" } });
    await flush();
    expect(env.peers[0]!.log).toEqual(["local:offer", "local:rollback", "remote:offer", "local:answer"]);
    expect(env.frames("video:answer").map((f) => f.to)).toEqual(["s-b"]);
  });

  it("the impolite side ignores the crossing offer and keeps its own", async () => {
    const env = setup({ me: "s-z", participants: ["s-b"] });
    await env.mesh.join();
    await flush();
    env.push("video:offer", { from: "s-b", sdp: { type: "offer", sdp: "theirs" } });
    env.push("video:ice-candidate", { from: "s-b", candidate: { candidate: "c1" } });
    await flush();
    expect(env.peers[0]!.log).toEqual(["local:offer"]);
    expect(env.frames("video:answer")).toEqual([]);
    env.push("video:answer", { from: "s-b", sdp: { type: "answer", sdp: "a" } });
    await flush();
    expect(env.peers[0]!.signalingState).toBe("stable");
  });
});

describe("ICE candidates", () => {
  it("holds candidates that arrive before the offer and adds them after it", async () => {
    const env = setup();
    await env.mesh.join();
    env.push("video:user-joined", { session_id: "s-new", user: { id: "u2", name: "둘", avatar: null } });
    env.push("video:ice-candidate", { from: "s-new", candidate: { candidate: "early" } });
    await flush();
    expect(env.peers[0]!.candidates).toEqual([]);
    env.push("video:offer", { from: "s-new", sdp: { type: "offer", sdp: "o" } });
    env.push("video:ice-candidate", { from: "s-new", candidate: null });
    await flush();
    expect(env.peers[0]!.candidates).toEqual([{ candidate: "early" }, null]);
  });

  it("relays its own candidates to the peer, null for the end", async () => {
    const env = setup({ participants: ["s-a"] });
    await env.mesh.join();
    await flush();
    env.peers[0]!.onicecandidate?.({ candidate: { toJSON: () => ({ candidate: "mine" }) } });
    env.peers[0]!.onicecandidate?.({ candidate: null });
    expect(env.frames("video:ice-candidate")).toEqual([
      { study_id: "st", to: "s-a", candidate: { candidate: "mine" } },
      { study_id: "st", to: "s-a", candidate: null }]);
  });
});

describe("leaving", () => {
  it("closes and forgets a peer that left, and relays nothing more to it", async () => {
    const env = setup({ participants: ["s-a", "s-b"] });
    await env.mesh.join();
    await flush();
    env.push("video:user-left", { session_id: "s-a", user_id: "u-s-a" });
    expect(env.peers[0]!.closed).toBe(true);
    expect(env.mesh.snapshot.peers.map((p) => p.sessionId)).toEqual(["s-b"]);
    env.peers[0]!.onicecandidate?.({ candidate: null });
    expect(env.frames("video:ice-candidate")).toEqual([]);
  });

  it("leaving tells the server, closes every connection and releases the devices", async () => {
    const env = setup({ participants: ["s-a"] });
    await env.mesh.join();
    await flush();
    env.mesh.leave();
    expect(env.frames("video:leave-room")).toEqual([{ study_id: "st" }]);
    expect(env.peers[0]!.closed).toBe(true);
    expect(env.camera.stopped && env.mic.stopped).toBe(true);
    expect(env.mesh.snapshot.status).toBe("idle");
    for (const set of env.listeners.values()) expect(set.size).toBe(0);
  });

  it("a full call says so and gives the devices back", async () => {
    const env = setup({ joinError: "CALL_FULL" });
    await env.mesh.join();
    await flush();
    expect(env.mesh.snapshot.status).toBe("full");
    expect(env.mesh.snapshot.error).toBe("CALL_FULL");
    env.mesh.leave();
    expect(env.camera.stopped).toBe(true);
    expect(env.frames("video:leave-room")).toEqual([]);
  });
});

describe("toggles and screen share", () => {
  it("mutes and turns the camera off locally and tells the others", async () => {
    const env = setup();
    await env.mesh.join();
    await flush();
    env.mesh.setMuted(true);
    env.mesh.setCameraOff(true);
    expect(env.mic.enabled).toBe(false);
    expect(env.camera.enabled).toBe(false);
    expect(env.frames("video:toggle-audio")).toEqual([{ study_id: "st", muted: true }]);
    expect(env.frames("video:toggle-video")).toEqual([{ study_id: "st", off: true }]);
  });

  it("replaces the video track on every connection and puts the camera back after", async () => {
    const env = setup({ participants: ["s-a", "s-b"] });
    await env.mesh.join();
    await flush();
    await env.mesh.startScreenShare();
    expect(env.peers.map((p) => p.senders[1]!.track?.label)).toEqual(["screen", "screen"]);
    expect(env.mesh.snapshot.local.screen).toBe(true);
    await env.mesh.stopScreenShare();
    expect(env.peers.map((p) => p.senders[1]!.track?.label)).toEqual(["camera", "camera"]);
    expect(env.screen.stopped).toBe(true);
    expect(env.frames("video:screen-share").map((f) => f.sharing)).toEqual([true, false]);
  });

  it("someone else sharing (CONFLICT) leaves the tracks alone", async () => {
    const env = setup({ participants: ["s-a"] });
    env.replies["video:screen-share"] = async () => { throw Object.assign(new Error("x"), { code: "CONFLICT" }); };
    await env.mesh.join();
    await flush();
    await env.mesh.startScreenShare();
    expect(env.peers[0]!.senders[1]!.track?.label).toBe("camera");
    expect(env.screen.stopped).toBe(true);
    expect(env.mesh.snapshot.error).toBe("CONFLICT");
  });

  it("keeps peer state and the in-call chat", async () => {
    const env = setup({ participants: ["s-a"] });
    await env.mesh.join();
    await flush();
    env.push("video:peer-state", { session_id: "s-a", audio: false, video: true, screen: false, speaking: true });
    env.push("chat:video-message-received", { id: "m1", user: { id: "u", name: "가", avatar: null }, message: "안녕", timestamp: 1 });
    expect(env.mesh.snapshot.peers[0]).toMatchObject({ audio: false, speaking: true });
    expect(env.mesh.snapshot.messages.map((m) => m.message)).toEqual(["안녕"]);
  });
});
