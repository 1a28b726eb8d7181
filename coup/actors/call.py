"""One study's video call: participants, peer state and signalling relays (PROTOCOL §8).

The call lives inside the study's RoomActor, so every command on it is handled in the room's
mailbox order: relays from one session reach their target in the order they were sent. The
media itself never passes through the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coup.errors import ApiError, BadRequest, Conflict, NotFound
from coup.store.fields import new_id

if TYPE_CHECKING:
    from coup.actors.session import SessionActor
    from coup.config import Settings

# TURN credentials stay valid this long (coturn REST scheme).
TURN_CREDENTIAL_SECONDS = 3600
# Limits on what a client may relay: an SDP is a few KB; a candidate a few hundred bytes.
MAX_SDP_CHARS = 16_000
MAX_CANDIDATE_CHARS = 2_000
MAX_CALL_CHAT_CHARS = 500


@dataclass
class Participant:
    session: SessionActor
    audio: bool = True
    video: bool = True
    screen: bool = False
    speaking: bool = False
    joined_at: float = field(default_factory=time.monotonic)

    def view(self) -> dict[str, Any]:
        return {"session_id": self.session.session_id, "user": self.session.user,
                "audio": self.audio, "video": self.video, "screen": self.screen}


class Call:
    def __init__(self, study_id: str, settings: Settings) -> None:
        self.study_id = study_id
        self.settings = settings
        self.participants: dict[str, Participant] = {}

    def __bool__(self) -> bool:
        return bool(self.participants)

    def view(self) -> dict[str, Any] | None:
        if not self.participants:
            return None
        return {"participants": [p.view() for p in self.participants.values()]}

    def join(self, session: SessionActor) -> dict[str, Any]:
        if session.session_id in self.participants:
            others = [p.view() for sid, p in self.participants.items()
                      if sid != session.session_id]
            return {"participants": others, "ice_servers": ice_servers(self.settings,
                                                                         session.user_id)}
        if len(self.participants) >= self.settings.video_max_participants:
            raise CallFull()
        others = [p.view() for p in self.participants.values()]
        self.participants[session.session_id] = Participant(session)
        self._send_others(session, "video:user-joined", {
            "study_id": self.study_id, "session_id": session.session_id, "user": session.user})
        return {"participants": others, "ice_servers": ice_servers(self.settings,
                                                                     session.user_id)}

    def leave(self, session: SessionActor) -> bool:
        if self.participants.pop(session.session_id, None) is None:
            return False
        self._send_all("video:user-left", {"study_id": self.study_id,
                                           "session_id": session.session_id,
                                           "user_id": session.user_id})
        return True

    def relay(self, session: SessionActor, event: str, data: dict[str, Any]) -> None:
        """Offer, answer or ICE candidate to one target session in the call."""
        self._require_participant(session)
        target_id = data.get("to")
        if not isinstance(target_id, str):
            raise BadRequest(message="to must be a session id")
        target = self.participants.get(target_id)
        if target is None:
            raise NotFound(message="that session is not in the call")
        payload: dict[str, Any] = {"study_id": self.study_id, "from": session.session_id,
                                   "user": session.user}
        if event == "video:ice-candidate":
            candidate = data.get("candidate")
            if candidate is not None and not isinstance(candidate, dict | str):
                raise BadRequest(message="candidate must be an object, a string or null")
            if len(str(candidate)) > MAX_CANDIDATE_CHARS:
                raise BadRequest(message="candidate is too long")
            payload["candidate"] = candidate
        else:
            sdp = data.get("sdp")
            if not isinstance(sdp, dict | str) or len(str(sdp)) > MAX_SDP_CHARS:
                raise BadRequest(message="sdp must be an object or a string of at most 16000")
            payload["sdp"] = sdp
        target.session.push_event(event, payload)

    def set_state(self, session: SessionActor, event: str, data: dict[str, Any]) -> None:
        participant = self._require_participant(session)
        key, attribute = STATE_FIELDS[event]
        value = data.get(key)
        if not isinstance(value, bool):
            raise BadRequest(message=f"{key} must be true or false")
        if event == "video:screen-share" and value:
            sharer = next((p for p in self.participants.values() if p.screen), None)
            if sharer is not None and sharer is not participant:
                raise Conflict(message="someone else is sharing their screen")
        if attribute in ("audio", "video"):
            value = not value  # muted / off arrive as negatives of the state we keep
        setattr(participant, attribute, value)
        self._send_others(session, "video:peer-state", {
            "study_id": self.study_id, "session_id": session.session_id,
            "audio": participant.audio, "video": participant.video,
            "screen": participant.screen, "speaking": participant.speaking})

    def chat(self, session: SessionActor, data: dict[str, Any]) -> None:
        self._require_participant(session)
        text = data.get("message")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CALL_CHAT_CHARS:
            raise BadRequest(message="message must be 1-500 characters")
        self._send_all("chat:video-message-received", {
            "id": new_id(), "study_id": self.study_id, "user": session.user,
            "message": text.strip(), "timestamp": int(time.time() * 1000)})

    def _require_participant(self, session: SessionActor) -> Participant:
        participant = self.participants.get(session.session_id)
        if participant is None:
            raise NotFound(message="join the call first (video:join-room)")
        return participant

    def _send_all(self, event: str, data: dict[str, Any]) -> None:
        for participant in self.participants.values():
            participant.session.push_event(event, data)

    def _send_others(self, sender: SessionActor, event: str, data: dict[str, Any]) -> None:
        for sid, participant in self.participants.items():
            if sid != sender.session_id:
                participant.session.push_event(event, data)


class CallFull(ApiError):
    """PROTOCOL's CALL_FULL has no REST twin; it travels as CONFLICT with this ws code."""

    def __init__(self) -> None:
        super().__init__("CONFLICT", message="the call is full")

    @property
    def ws_code(self) -> str:
        return "CALL_FULL"


STATE_FIELDS = {
    "video:toggle-audio": ("muted", "audio"),
    "video:toggle-video": ("off", "video"),
    "video:screen-share": ("sharing", "screen"),
    "video:speaking": ("speaking", "speaking"),
}


def ice_servers(settings: Settings, user_id: str) -> list[dict[str, Any]]:
    """Configured STUN servers, plus TURN with coturn REST credentials when a secret is set."""
    servers: list[dict[str, Any]] = [{"urls": list(settings.stun_urls)}] \
        if settings.stun_urls else []
    if settings.turn_secret and settings.turn_urls:
        username = f"{int(time.time()) + TURN_CREDENTIAL_SECONDS}:{user_id}"
        digest = hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
        servers.append({"urls": list(settings.turn_urls), "username": username,
                        "credential": base64.b64encode(digest).decode("ascii")})
    return servers
