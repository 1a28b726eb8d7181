"""One study's video call: participants, peer state and signalling relays (PROTOCOL §8).

The participant list lives in the bus (a dict on one node, a Redis hash in a cluster) so the
call cap holds across nodes; each node's RoomActor delivers call events to its own sessions.
Every command is handled in the room's mailbox order, so relays from one session reach their
target in the order they were sent. Media never passes through the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from coup.actors.messages import Member
from coup.bus.base import Bus, CallFullError
from coup.config import Settings
from coup.errors import ApiError, BadRequest, Conflict, NotFound
from coup.store.fields import new_id

# TURN credentials stay valid this long (coturn REST scheme).
TURN_CREDENTIAL_SECONDS = 3600
# Limits on what a client may relay: an SDP is a few KB; a candidate a few hundred bytes.
MAX_SDP_CHARS = 16_000
MAX_CANDIDATE_CHARS = 2_000
MAX_CALL_CHAT_CHARS = 500

STATE_FIELDS = {
    "video:toggle-audio": ("muted", "audio"),
    "video:toggle-video": ("off", "video"),
    "video:screen-share": ("sharing", "screen"),
    "video:speaking": ("speaking", "speaking"),
}


class CallFull(ApiError):
    """PROTOCOL's CALL_FULL has no REST twin; it travels as CONFLICT with this ws code."""

    def __init__(self) -> None:
        super().__init__("CONFLICT", message="the call is full")

    @property
    def ws_code(self) -> str:
        return "CALL_FULL"


def participant_view(session_id: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": session_id, "user": info["user"], "audio": info["audio"],
            "video": info["video"], "screen": info["screen"]}


class Call:
    """The room's side of the call; `send` delivers one call event to chosen sessions on every
    node (the room supplies it: local pushes plus a bus publish)."""

    def __init__(self, study_id: str, settings: Settings, bus: Bus) -> None:
        self.study_id = study_id
        self.settings = settings
        self.bus = bus
        self.local: dict[str, Member] = {}  # this node's participants

    async def view(self) -> dict[str, Any] | None:
        participants = await self.bus.call_participants(self.study_id)
        if not participants:
            return None
        return {"participants": [participant_view(sid, info)
                                 for sid, info in participants.items()]}

    async def join(self, session: Member) -> tuple[dict[str, Any], bool]:
        """Returns the reply and whether the session is new in the call."""
        info = {"user": session.user, "audio": True, "video": True, "screen": False,
                "speaking": False}
        already = session.session_id in self.local
        try:
            others = await self.bus.call_join(self.study_id, session.session_id, info,
                                              self.settings.video_max_participants)
        except CallFullError:
            raise CallFull() from None
        self.local[session.session_id] = session
        reply = {"participants": [participant_view(sid, p) for sid, p in others.items()],
                 "ice_servers": ice_servers(self.settings, session.user_id)}
        return reply, not already

    async def leave(self, session: Member) -> bool:
        if self.local.pop(session.session_id, None) is None:
            return False
        await self.bus.call_leave(self.study_id, session.session_id)
        return True

    async def participant(self, session: Member) -> dict[str, Any]:
        if session.session_id not in self.local:
            raise NotFound(message="join the call first (video:join-room)")
        participants = await self.bus.call_participants(self.study_id)
        info = participants.get(session.session_id)
        if info is None:  # the bus lost it (Redis restart before resync): re-register
            info = {"user": session.user, "audio": True, "video": True, "screen": False,
                    "speaking": False}
            await self.bus.call_update(self.study_id, session.session_id, info)
        return info

    async def relay_target(self, session: Member, event: str,
                           data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Validate an offer/answer/candidate: (target session, its node, payload)."""
        if session.session_id not in self.local:
            raise NotFound(message="join the call first (video:join-room)")
        target_id = data.get("to")
        if not isinstance(target_id, str):
            raise BadRequest(message="to must be a session id")
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
        if target_id in self.local:
            return target_id, self.bus.node_id, payload
        target = (await self.bus.call_participants(self.study_id)).get(target_id)
        if target is None:
            raise NotFound(message="that session is not in the call")
        return target_id, target["node"], payload

    async def set_state(self, session: Member, event: str,
                        data: dict[str, Any]) -> dict[str, Any]:
        """Apply a toggle; returns the video:peer-state payload for the others."""
        info = await self.participant(session)
        key, attribute = STATE_FIELDS[event]
        value = data.get(key)
        if not isinstance(value, bool):
            raise BadRequest(message=f"{key} must be true or false")
        if event == "video:screen-share" and value:
            participants = await self.bus.call_participants(self.study_id)
            if any(p.get("screen") for sid, p in participants.items()
                   if sid != session.session_id):
                raise Conflict(message="someone else is sharing their screen")
        if attribute in ("audio", "video"):
            value = not value  # `muted` / `off` arrive as the negatives of the state we keep
        info = {**info, attribute: value}
        info.pop("node", None)
        await self.bus.call_update(self.study_id, session.session_id, info)
        return {"study_id": self.study_id, "session_id": session.session_id,
                "audio": info["audio"], "video": info["video"], "screen": info["screen"],
                "speaking": info["speaking"]}

    def chat_payload(self, session: Member, data: dict[str, Any]) -> dict[str, Any]:
        text = data.get("message")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CALL_CHAT_CHARS:
            raise BadRequest(message="message must be 1-500 characters")
        return {"id": new_id(), "study_id": self.study_id, "user": session.user,
                "message": text.strip(), "timestamp": int(time.time() * 1000)}


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
