// A study's video call as a full mesh of RTCPeerConnections (PROTOCOL §8). No React here: the
// panel renders `snapshot` and calls the methods; the unit tests drive it with fakes.
//
// Who offers: the newcomer, to every participant in its `video:join-room` reply; those already
// in the call only answer. Should both sides still offer at once (glare: a user-joined and a
// reply crossing in a cluster), the rule is deterministic: the peer with the smaller session id
// is "polite" and rolls its own offer back to answer; the other ignores the incoming offer.
// Screen sharing replaces the video track on every connection (no renegotiation).

export interface CallUser { id: string; name: string; avatar: string | null }

/** The realtime client as the call sees it (see `realtimeSignalling` in VideoCallPanel). */
export interface Signalling {
  request(event: string, data: Record<string, unknown>): Promise<Record<string, unknown>>;
  onEvent(event: string, listener: (data: Record<string, unknown>) => void): () => void;
  /** This connection's session id (hello.session_id), null while disconnected. */
  sessionId(): string | null;
  isJoined(): boolean;
  /** The study's room was (re)joined on a (new) connection. */
  onJoined(listener: () => void): () => void;
  /** The connection was lost: the server has dropped us from the call. */
  onLost(listener: () => void): () => void;
}

/** What the mesh uses of RTCPeerConnection (the browser's fits; tests pass a fake). */
export interface PeerLike {
  readonly connectionState: string;
  readonly signalingState: string;
  readonly remoteDescription: unknown;
  readonly localDescription: { type: string; sdp?: string } | null;
  onicecandidate: ((event: { candidate: { toJSON(): unknown } | null }) => void) | null;
  ontrack: ((event: { streams: readonly MediaStream[]; track: MediaStreamTrack }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  addTrack(track: MediaStreamTrack, stream: MediaStream): unknown;
  getSenders(): { track: MediaStreamTrack | null; replaceTrack(track: MediaStreamTrack | null): Promise<void> }[];
  createOffer(options?: { iceRestart?: boolean }): Promise<{ type: string; sdp?: string }>;
  createAnswer(): Promise<{ type: string; sdp?: string }>;
  setLocalDescription(description?: { type: string; sdp?: string }): Promise<void>;
  setRemoteDescription(description: { type: string; sdp?: string }): Promise<void>;
  addIceCandidate(candidate: unknown): Promise<void>;
  close(): void;
}

export interface MediaAccess {
  getUserMedia(constraints: { audio: boolean; video: boolean }): Promise<MediaStream>;
  getDisplayMedia(): Promise<MediaStream>;
}

export type CallStatus = "idle" | "joining" | "in-call" | "reconnecting" | "full" | "error";

export interface PeerView {
  sessionId: string; user: CallUser; connectionState: string; stream: MediaStream | null;
  audio: boolean; video: boolean; screen: boolean; speaking: boolean;
}

export interface CallMessage { id: string; user: CallUser; message: string; timestamp: number }

export interface CallSnapshot {
  status: CallStatus;
  /** An error code (CALL_FULL, CONFLICT, MEDIA_DENIED, …) for the panel to word. */
  error: string | null;
  local: { stream: MediaStream | null; audio: boolean; video: boolean; screen: boolean; speaking: boolean; hasVideo: boolean; hasAudio: boolean };
  peers: PeerView[];
  messages: CallMessage[];
}

interface Peer {
  view: PeerView;
  pc: PeerLike;
  makingOffer: boolean;
  ignoreOffer: boolean;
  /** Candidates that came before the remote description. */
  pending: unknown[];
  /** The remote description is set and the held candidates are in. */
  remoteReady: boolean;
  tracksAdded: boolean;
}

export interface MeshOptions {
  studyId: string;
  signalling: Signalling;
  media: MediaAccess;
  createPeer: (config: { iceServers: unknown[] }) => PeerLike;
}

const MAX_MESSAGES = 200;
const SIGNAL_EVENTS = ["video:user-joined", "video:user-left", "video:offer", "video:answer",
  "video:ice-candidate", "video:peer-state", "chat:video-message-received"] as const;

export class Mesh {
  private readonly options: MeshOptions;
  private readonly peers = new Map<string, Peer>();
  private readonly listeners = new Set<() => void>();
  private iceServers: unknown[] = [];
  private localStream: MediaStream | null = null;
  private cameraTrack: MediaStreamTrack | null = null;
  private screenStream: MediaStream | null = null;
  private offs: (() => void)[] = [];
  private wanted = false;
  private entering = false;
  private state: CallSnapshot = {
    status: "idle", error: null, peers: [], messages: [],
    local: { stream: null, audio: true, video: true, screen: false, speaking: false, hasVideo: false, hasAudio: false },
  };

  constructor(options: MeshOptions) { this.options = options; }

  get snapshot(): CallSnapshot { return this.state; }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Open the camera and microphone, then enter the call (when the room is joined). */
  async join(): Promise<void> {
    if (this.wanted) return;
    this.wanted = true;
    this.update({ status: "joining", error: null });
    if (!this.localStream) await this.openMedia();
    if (!this.wanted) return;
    this.listen();
    if (this.options.signalling.isJoined()) await this.enter();
  }

  /** Leave the call: tell the server, close every connection, release the devices. */
  leave(): void {
    if (!this.wanted && this.state.status === "idle") return;
    const inCall = this.state.status === "in-call";
    this.wanted = false;
    for (const off of this.offs) off();
    this.offs = [];
    this.closePeers();
    if (inCall) this.options.signalling.request("video:leave-room", { study_id: this.options.studyId }).catch(() => {});
    for (const track of [...(this.localStream?.getTracks() ?? []), ...(this.screenStream?.getTracks() ?? [])]) track.stop();
    this.localStream = null;
    this.cameraTrack = null;
    this.screenStream = null;
    this.update({ status: "idle", peers: [], local: { ...this.state.local, stream: null, screen: false, speaking: false } });
  }

  setMuted(muted: boolean): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.update({ local: { ...this.state.local, audio: !muted } });
    this.send("video:toggle-audio", { muted });
  }

  setCameraOff(off: boolean): void {
    if (this.cameraTrack) this.cameraTrack.enabled = !off;
    this.update({ local: { ...this.state.local, video: !off } });
    this.send("video:toggle-video", { off });
  }

  /** Local speaking changes (from the panel's audio analyser) go to the others. */
  setSpeaking(speaking: boolean): void {
    if (this.state.local.speaking === speaking) return;
    this.update({ local: { ...this.state.local, speaking } });
    this.send("video:speaking", { speaking });
  }

  async startScreenShare(): Promise<void> {
    if (this.screenStream || this.state.status !== "in-call") return;
    let stream: MediaStream;
    try {
      stream = await this.options.media.getDisplayMedia();
    } catch {
      return; // the person cancelled the picker
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    try {
      await this.options.signalling.request("video:screen-share", { study_id: this.options.studyId, sharing: true });
    } catch (error) {
      for (const t of stream.getTracks()) t.stop();
      this.update({ error: codeOf(error) });
      return;
    }
    this.screenStream = stream;
    track.onended = () => { void this.stopScreenShare(); };
    await this.replaceVideo(track);
    this.update({ error: null, local: { ...this.state.local, screen: true, stream: this.previewStream() } });
  }

  async stopScreenShare(): Promise<void> {
    if (!this.screenStream) return;
    for (const track of this.screenStream.getTracks()) track.stop();
    this.screenStream = null;
    await this.replaceVideo(this.cameraTrack);
    this.update({ local: { ...this.state.local, screen: false, stream: this.previewStream() } });
    this.send("video:screen-share", { sharing: false });
  }

  async sendMessage(message: string): Promise<void> {
    await this.options.signalling.request("chat:video-message", { study_id: this.options.studyId, message });
  }

  // --- joining --------------------------------------------------------------------------------

  private async openMedia(): Promise<void> {
    const { media } = this.options;
    let stream: MediaStream | null = null;
    for (const constraints of [{ audio: true, video: true }, { audio: true, video: false }, { audio: false, video: true }]) {
      try { stream = await media.getUserMedia(constraints); break; } catch { /* try with less */ }
    }
    this.localStream = stream;
    this.cameraTrack = stream?.getVideoTracks()[0] ?? null;
    this.update({
      error: stream ? null : "MEDIA_DENIED",
      local: { ...this.state.local, stream, hasVideo: Boolean(this.cameraTrack), hasAudio: Boolean(stream?.getAudioTracks().length) },
    });
  }

  private listen(): void {
    const { signalling } = this.options;
    const mine = (handler: (data: Record<string, unknown>) => void) => (data: Record<string, unknown>) => {
      if (data.study_id === undefined || data.study_id === this.options.studyId) handler(data);
    };
    const handlers: Record<(typeof SIGNAL_EVENTS)[number], (data: Record<string, unknown>) => void> = {
      "video:user-joined": (data) => this.onUserJoined(data),
      "video:user-left": (data) => this.removePeer(String(data.session_id)),
      "video:offer": (data) => { void this.onOffer(data); },
      "video:answer": (data) => { void this.onAnswer(data); },
      "video:ice-candidate": (data) => { void this.onCandidate(data); },
      "video:peer-state": (data) => this.onPeerState(data),
      "chat:video-message-received": (data) => this.onMessage(data),
    };
    this.offs = [
      ...SIGNAL_EVENTS.map((event) => signalling.onEvent(event, mine(handlers[event]))),
      signalling.onJoined(() => { if (this.wanted && this.state.status !== "in-call") void this.enter(); }),
      signalling.onLost(() => {
        if (!this.wanted) return;
        this.closePeers();
        this.update({ status: "reconnecting", peers: [] });
      }),
    ];
  }

  private async enter(): Promise<void> {
    if (this.entering) return;
    const { signalling, studyId } = this.options;
    let reply: Record<string, unknown>;
    this.entering = true;
    try {
      reply = await signalling.request("video:join-room", { study_id: studyId });
    } catch (error) {
      this.entering = false;
      if (!this.wanted) return;
      const code = codeOf(error);
      if (code === "DISCONNECTED" || code === "TIMEOUT") { this.update({ status: "reconnecting" }); return; }
      this.update({ status: code === "CALL_FULL" ? "full" : "error", error: code });
      this.wanted = false;
      for (const off of this.offs) off();
      this.offs = [];
      return;
    }
    this.entering = false;
    if (!this.wanted) {
      signalling.request("video:leave-room", { study_id: studyId }).catch(() => {});
      return;
    }
    this.iceServers = Array.isArray(reply.ice_servers) ? reply.ice_servers : [];
    this.update({ status: "in-call", error: null });
    // Our own state may differ from the server's defaults (after a reconnect, say).
    if (!this.state.local.audio) this.send("video:toggle-audio", { muted: true });
    if (!this.state.local.video) this.send("video:toggle-video", { off: true });
    const participants = (reply.participants ?? []) as { session_id: string; user: CallUser; audio?: boolean; video?: boolean; screen?: boolean }[];
    for (const participant of participants) {
      const peer = this.addPeer(participant.session_id, participant.user);
      this.patchPeer(peer, { audio: participant.audio ?? true, video: participant.video ?? true, screen: participant.screen ?? false });
      void this.offer(peer);
    }
  }

  // --- signalling -----------------------------------------------------------------------------

  private onUserJoined(data: Record<string, unknown>): void {
    const sessionId = String(data.session_id);
    if (sessionId === this.options.signalling.sessionId()) return;
    this.addPeer(sessionId, data.user as CallUser); // the newcomer will offer
  }

  private async offer(peer: Peer, iceRestart = false): Promise<void> {
    this.addLocalTracks(peer);
    try {
      peer.makingOffer = true;
      const offer = await peer.pc.createOffer(iceRestart ? { iceRestart } : undefined);
      if (peer.pc.signalingState !== "stable") return; // an offer from them got in first
      await peer.pc.setLocalDescription(offer);
      this.relay("video:offer", peer, { sdp: describe(peer.pc.localDescription ?? offer) });
    } catch {
      // the connection was closed meanwhile
    } finally {
      peer.makingOffer = false;
    }
  }

  private async onOffer(data: Record<string, unknown>): Promise<void> {
    const from = String(data.from);
    const peer = this.peers.get(from) ?? this.addPeer(from, data.user as CallUser);
    const description = toDescription(data.sdp, "offer");
    const collision = peer.makingOffer || peer.pc.signalingState !== "stable";
    peer.ignoreOffer = !this.isPolite(from) && collision;
    if (peer.ignoreOffer) return; // glare: ours wins, theirs is dropped
    try {
      if (collision) await peer.pc.setLocalDescription({ type: "rollback" });
      await peer.pc.setRemoteDescription(description);
      this.addLocalTracks(peer);
      await this.flushCandidates(peer);
      const answer = await peer.pc.createAnswer();
      await peer.pc.setLocalDescription(answer);
      this.relay("video:answer", peer, { sdp: describe(peer.pc.localDescription ?? answer) });
    } catch {
      // a stale offer (the peer left or restarted): its next offer starts over
    }
  }

  private async onAnswer(data: Record<string, unknown>): Promise<void> {
    const peer = this.peers.get(String(data.from));
    if (!peer || peer.pc.signalingState !== "have-local-offer") return;
    try {
      await peer.pc.setRemoteDescription(toDescription(data.sdp, "answer"));
      await this.flushCandidates(peer);
    } catch { /* a stale answer */ }
  }

  private async onCandidate(data: Record<string, unknown>): Promise<void> {
    const peer = this.peers.get(String(data.from));
    if (!peer) return;
    const candidate = data.candidate ?? null;
    if (!peer.remoteReady) { peer.pending.push(candidate); return; }
    try { await peer.pc.addIceCandidate(candidate); } catch { /* a candidate of an ignored offer */ }
  }

  private async flushCandidates(peer: Peer): Promise<void> {
    // Candidates that arrive while these are added queue behind them, in order.
    while (peer.pending.length > 0) {
      try { await peer.pc.addIceCandidate(peer.pending.shift()); } catch { /* ignore */ }
    }
    peer.remoteReady = true;
  }

  private onPeerState(data: Record<string, unknown>): void {
    const peer = this.peers.get(String(data.session_id));
    if (!peer) return;
    this.patchPeer(peer, { audio: Boolean(data.audio), video: Boolean(data.video), screen: Boolean(data.screen), speaking: Boolean(data.speaking) });
  }

  private onMessage(data: Record<string, unknown>): void {
    const message: CallMessage = { id: String(data.id), user: data.user as CallUser, message: String(data.message),
      timestamp: Number(data.timestamp) };
    this.update({ messages: [...this.state.messages, message].slice(-MAX_MESSAGES) });
  }

  // --- peers ----------------------------------------------------------------------------------

  /** Smaller session id yields (PROTOCOL leaves glare open; any fixed order works). */
  private isPolite(other: string): boolean {
    return (this.options.signalling.sessionId() ?? "") < other;
  }

  private addPeer(sessionId: string, user: CallUser): Peer {
    const existing = this.peers.get(sessionId);
    if (existing) return existing;
    const pc = this.options.createPeer({ iceServers: this.iceServers });
    const peer: Peer = {
      pc, makingOffer: false, ignoreOffer: false, pending: [], remoteReady: false, tracksAdded: false,
      view: { sessionId, user, connectionState: "new", stream: null, audio: true, video: true, screen: false, speaking: false },
    };
    pc.onicecandidate = ({ candidate }) => this.relay("video:ice-candidate", peer, { candidate: candidate ? candidate.toJSON() : null });
    pc.ontrack = ({ streams, track }) => {
      const stream = streams[0] ?? peer.view.stream ?? new MediaStream();
      if (!streams[0] && !stream.getTracks().includes(track)) stream.addTrack(track);
      this.patchPeer(peer, { stream });
    };
    pc.onconnectionstatechange = () => {
      this.patchPeer(peer, { connectionState: pc.connectionState });
      // The newcomer's side restarts ICE after a failure (a network change, say).
      if (pc.connectionState === "failed" && !this.isPolite(sessionId)) void this.offer(peer, true);
    };
    this.peers.set(sessionId, peer);
    this.publishPeers();
    return peer;
  }

  private addLocalTracks(peer: Peer): void {
    if (peer.tracksAdded || !this.localStream) return;
    peer.tracksAdded = true;
    for (const track of this.localStream.getAudioTracks()) peer.pc.addTrack(track, this.localStream);
    const video = this.screenStream?.getVideoTracks()[0] ?? this.cameraTrack;
    if (video) peer.pc.addTrack(video, this.localStream);
  }

  private removePeer(sessionId: string): void {
    const peer = this.peers.get(sessionId);
    if (!peer) return;
    this.peers.delete(sessionId);
    closePeer(peer);
    this.publishPeers();
  }

  private closePeers(): void {
    for (const peer of this.peers.values()) closePeer(peer);
    this.peers.clear();
  }

  private async replaceVideo(track: MediaStreamTrack | null): Promise<void> {
    await Promise.all([...this.peers.values()].map(async (peer) => {
      const sender = peer.pc.getSenders().find((s) => s.track?.kind === "video" || (s.track === null && track !== null));
      if (sender) await sender.replaceTrack(track).catch(() => {});
    }));
  }

  private previewStream(): MediaStream | null {
    if (!this.screenStream) return this.localStream;
    return this.screenStream;
  }

  private patchPeer(peer: Peer, patch: Partial<PeerView>): void {
    peer.view = { ...peer.view, ...patch };
    if (this.peers.get(peer.view.sessionId) === peer) this.publishPeers();
  }

  private publishPeers(): void { this.update({ peers: [...this.peers.values()].map((peer) => peer.view) }); }

  // --- plumbing -------------------------------------------------------------------------------

  private relay(event: string, peer: Peer, data: Record<string, unknown>): void {
    if (this.peers.get(peer.view.sessionId) !== peer) return;
    this.options.signalling.request(event, { study_id: this.options.studyId, to: peer.view.sessionId, ...data })
      .catch(() => {}); // NOT_FOUND: they left meanwhile, and video:user-left follows
  }

  private send(event: string, data: Record<string, unknown>): void {
    if (this.state.status !== "in-call") return;
    this.options.signalling.request(event, { study_id: this.options.studyId, ...data }).catch(() => {});
  }

  private update(patch: Partial<CallSnapshot>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) listener();
  }
}

function closePeer(peer: Peer): void {
  peer.pc.onicecandidate = null;
  peer.pc.ontrack = null;
  peer.pc.onconnectionstatechange = null;
  try { peer.pc.close(); } catch { /* already closed */ }
}

function describe(description: { type: string; sdp?: string }): { type: string; sdp: string } {
  return { type: description.type, sdp: description.sdp ?? "" };
}

function toDescription(sdp: unknown, type: string): { type: string; sdp?: string } {
  if (typeof sdp === "string") return { type, sdp };
  const value = (sdp ?? {}) as { type?: string; sdp?: string };
  return { type: value.type ?? type, sdp: value.sdp };
}

function codeOf(error: unknown): string {
  return error && typeof error === "object" && "code" in error ? String((error as { code: unknown }).code) : "UNKNOWN";
}
