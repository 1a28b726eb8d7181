// The video call tab: renders the Mesh (mesh.ts) and forwards the person's clicks to it.
import { useEffect, useRef, useState, useSyncExternalStore, type FormEvent } from "react";
import { Avatar, Button } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useRealtime } from "../../lib/realtime";
import type { RealtimeClient } from "../../realtime";
import { Mesh, type CallSnapshot, type PeerLike, type PeerView, type Signalling } from "./mesh";
import { watchSpeaking } from "./speaking";
import "./video-call.css";

const STATES = new Set(["new", "connecting", "connected", "disconnected", "failed", "closed"]);

function realtimeSignalling(client: RealtimeClient, studyId: string): Signalling {
  return {
    request: (event, data) => client.request(event, data),
    onEvent: (event, listener) => client.onEvent(event, listener),
    sessionId: () => client.hello?.session_id ?? null,
    isJoined: () => client.isJoined(studyId),
    onJoined: (listener) => client.on("joined", (event) => { if (event.studyId === studyId) listener(); }),
    onLost: (listener) => client.on("state", ({ state, previous }) => {
      if (previous === "connected" && state !== "connected") listener();
    }),
  };
}

function browserMesh(client: RealtimeClient, studyId: string): Mesh {
  return new Mesh({
    studyId,
    signalling: realtimeSignalling(client, studyId),
    media: {
      getUserMedia: (constraints) => navigator.mediaDevices.getUserMedia(constraints),
      getDisplayMedia: () => navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }),
    },
    createPeer: (config) => new RTCPeerConnection(config as RTCConfiguration) as unknown as PeerLike,
  });
}

export function VideoCallPanel({ studyId, me }: { studyId: string; me: { id: string; name: string; avatar?: string | null } }) {
  const { t } = useI18n();
  const client = useRealtime();
  const [mesh] = useState(() => (client ? browserMesh(client, studyId) : null));
  const call = useSyncExternalStore<CallSnapshot | null>(
    (notify) => mesh?.subscribe(notify) ?? (() => {}),
    () => mesh?.snapshot ?? null,
  );
  const [chatOpen, setChatOpen] = useState(true);

  // Leave cleanly on a tab change (unmount) and when the page goes away.
  useEffect(() => {
    if (!mesh) return;
    const leave = () => mesh.leave();
    window.addEventListener("pagehide", leave);
    return () => { window.removeEventListener("pagehide", leave); mesh.leave(); };
  }, [mesh]);

  if (!mesh || !call) return null;
  const inCall = call.status === "in-call" || call.status === "reconnecting";

  if (!inCall) {
    return (
      <section className="call call-lobby" aria-labelledby="call-title">
        <div className="card call-lobby-card">
          <span className="call-lobby-icon" aria-hidden="true">🎥</span>
          <h2 id="call-title" className="panel-title">{t("call.title")}</h2>
          <p className="muted">{t("call.intro")}</p>
          {call.status === "full" && <p className="warning-box" role="alert">{t("call.full")}</p>}
          {call.status === "error" && <p className="warning-box" role="alert">
            {t("call.failed", { reason: errorText({ code: call.error ?? "UNKNOWN" }, t) })}</p>}
          <Button onClick={() => { void mesh.join(); }} busy={call.status === "joining"}>
            {call.status === "joining" ? t("call.joining") : t("call.join")}
          </Button>
        </div>
      </section>
    );
  }

  const { local } = call;
  return (
    <section className="call" aria-labelledby="call-title">
      <div className="call-head">
        <h2 id="call-title" className="panel-title">{t("call.title")}</h2>
        <span className="muted small">{t("call.participants", { count: call.peers.length + 1 })}</span>
      </div>
      {call.status === "reconnecting" && <p className="warning-box" role="status">{t("call.reconnecting")}</p>}
      {call.error === "MEDIA_DENIED" && <p className="warning-box" role="alert">{t("call.mediaDenied")}</p>}
      {call.error === "CONFLICT" && <p className="warning-box" role="alert">{t("call.screenBusy")}</p>}
      <div className={`call-body${chatOpen ? " with-chat" : ""}`}>
        <div className="call-stage">
          <ul className="call-tiles" aria-label={t("call.tiles")} data-count={call.peers.length + 1}>
            <Tile name={t("call.you", { name: me.name })} avatar={me.avatar ?? null} stream={local.stream} mine
              audio={local.audio} video={local.video && (local.hasVideo || local.screen)} screen={local.screen}
              onSpeaking={(speaking) => mesh.setSpeaking(speaking)} />
            {call.peers.map((peer) => <PeerTile key={peer.sessionId} peer={peer} />)}
          </ul>
          {call.peers.length === 0 && <p className="muted small call-alone">{t("call.alone")}</p>}
          <div className="call-controls" role="toolbar" aria-label={t("call.controls")}>
            <Button variant={local.audio ? "secondary" : "danger"} aria-pressed={!local.audio} disabled={!local.hasAudio}
              onClick={() => mesh.setMuted(local.audio)}>
              <span aria-hidden="true">{local.audio ? "🎙️" : "🔇"}</span> {local.audio ? t("call.mute") : t("call.unmute")}
            </Button>
            <Button variant={local.video ? "secondary" : "danger"} aria-pressed={!local.video} disabled={!local.hasVideo}
              onClick={() => mesh.setCameraOff(local.video)}>
              <span aria-hidden="true">{local.video ? "📷" : "🚫"}</span> {local.video ? t("call.cameraOff") : t("call.cameraOn")}
            </Button>
            <Button variant="secondary" aria-pressed={local.screen}
              onClick={() => { void (local.screen ? mesh.stopScreenShare() : mesh.startScreenShare()); }}>
              <span aria-hidden="true">🖥️</span> {local.screen ? t("call.stopShare") : t("call.shareScreen")}
            </Button>
            <Button variant="ghost" aria-expanded={chatOpen} aria-controls="call-chat" onClick={() => setChatOpen(!chatOpen)}>
              <span aria-hidden="true">💬</span> {chatOpen ? t("call.chatHide") : t("call.chatShow")}
            </Button>
            <Button variant="danger" onClick={() => mesh.leave()}>
              <span aria-hidden="true">📞</span> {t("call.leave")}
            </Button>
          </div>
        </div>
        {chatOpen && <CallChat mesh={mesh} messages={call.messages} myId={me.id} />}
      </div>
    </section>
  );
}

function PeerTile({ peer }: { peer: PeerView }) {
  return <Tile name={peer.user.name} avatar={peer.user.avatar} stream={peer.stream} audio={peer.audio}
    video={peer.video || peer.screen} screen={peer.screen} remoteSpeaking={peer.speaking} connectionState={peer.connectionState} />;
}

interface TileProps {
  name: string; avatar: string | null; stream: MediaStream | null; audio: boolean; video: boolean; screen: boolean;
  mine?: boolean; connectionState?: string; remoteSpeaking?: boolean; onSpeaking?: (speaking: boolean) => void;
}

function Tile({ name, avatar, stream, audio, video, screen, mine, connectionState, remoteSpeaking, onSpeaking }: TileProps) {
  const { t } = useI18n();
  const videoRef = useRef<HTMLVideoElement>(null);
  const [heard, setHeard] = useState(false);
  useEffect(() => {
    const element = videoRef.current;
    if (element && element.srcObject !== stream) element.srcObject = stream;
  }, [stream]);
  // The speaking ring: each stream gets its own analyser (our own too, to tell the others).
  useEffect(() => {
    if (!stream || !audio) return;
    return watchSpeaking(stream, (speaking) => { setHeard(speaking); onSpeaking?.(speaking); });
  }, [stream, audio, onSpeaking]);
  const speaking = audio && (heard || Boolean(remoteSpeaking));
  const state = connectionState && STATES.has(connectionState) ? connectionState : null;
  return (
    <li className={`call-tile${speaking ? " speaking" : ""}${screen ? " screen" : ""}`} aria-label={name}
      data-connection-state={connectionState ?? "local"} data-speaking={speaking} data-screen={screen}>
      <video ref={videoRef} autoPlay playsInline muted={mine} className={`${mine && !screen ? "mirror" : ""}${video ? "" : " hidden"}`} />
      {!video && <div className="call-tile-avatar"><Avatar name={name} src={avatar} size={64} /></div>}
      <div className="call-tile-bar">
        <span className="call-tile-name ellipsis">{name}</span>
        {!audio && <span className="call-flag" title={t("call.micOff")} role="img" aria-label={t("call.micOff")}>🔇</span>}
        {screen && <span className="call-flag" role="img" aria-label={t("call.sharing")}>🖥️</span>}
        {speaking && <span className="visually-hidden">{t("call.speaking")}</span>}
      </div>
      {state && state !== "connected" && (
        <span className="call-tile-state" role="status">{t(`call.state.${state}` as MessageKey)}</span>
      )}
      {state === "connected" && <span className="visually-hidden">{t("call.state.connected")}</span>}
    </li>
  );
}

function CallChat({ mesh, messages, myId }: { mesh: Mesh; messages: CallSnapshot["messages"]; myId: string }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const list = listRef.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [messages.length]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const message = text.trim();
    if (!message) return;
    try {
      await mesh.sendMessage(message);
      setText("");
      setError(null);
    } catch (failure) {
      setError(errorText(failure, t));
    }
  };
  return (
    <aside id="call-chat" className="call-chat" aria-label={t("call.chat")}>
      <h3 className="call-chat-title">{t("call.chat")}</h3>
      <ol ref={listRef} className="call-chat-list" aria-live="polite">
        {messages.length === 0 && <li className="muted small">{t("call.chatEmpty")}</li>}
        {messages.map((m) => (
          <li key={m.id} className={m.user.id === myId ? "mine" : undefined}>
            <span className="call-chat-meta small"><strong>{m.user.name}</strong>{" "}
              <time className="muted">{formatTime(new Date(m.timestamp).toISOString(), language, timeZone)}</time></span>
            <span className="call-chat-text">{m.message}</span>
          </li>
        ))}
      </ol>
      {error && <p className="small call-chat-error" role="alert">{error}</p>}
      <form className="call-chat-form" onSubmit={submit}>
        <input id="call-chat-input" value={text} maxLength={500} onChange={(e) => setText(e.target.value)}
          placeholder={t("call.chatPlaceholder")} aria-label={t("call.chatPlaceholder")} />
        <Button type="submit" size="s" disabled={!text.trim()}>{t("call.chatSend")}</Button>
      </form>
    </aside>
  );
}
