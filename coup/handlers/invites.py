"""Study invite code endpoints (COUP.md §7.4).

Failed code look-ups are limited per client IP (COUP.md §1 item 14), by the node's
`limits.invite_lookup` (per node: with several nodes the effective limit is per node).
"""

from __future__ import annotations

from coup.errors import ApiError, RateLimited
from coup.handlers.base import ApiHandler
from coup.store import invites
from coup.validation import Integer

INVITE_SCHEMA = {
    "expires_in_hours": Integer(required=False, low=1, high=720),
    "max_uses": Integer(required=False, low=1, high=100),
}


class InvitePreviewHandler(ApiHandler):
    async def get(self, code: str) -> None:
        limiter = self.services.limits.invite_lookup
        ip = self.client_ip()
        wait = limiter.retry_after(ip)
        if wait:
            raise RateLimited(wait)
        viewer_id = self.auth.user.id if self.auth is not None else None
        try:
            preview = await invites.preview_invite(code, viewer_id)
        except ApiError as exc:
            # Only failures count: guessing codes is what the limit stops.
            if exc.code in invites.INVITE_FAILURE_CODES:
                await limiter.hit(ip)
            raise
        self.ok(preview)


class InviteHandler(ApiHandler):
    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        data = self.parse(INVITE_SCHEMA, allow_empty=True)
        self.created(await invites.create_invite(
            study_id, user_id, data.get("expires_in_hours"), data.get("max_uses"),
            self.services.settings.app_url))

    async def get(self, study_id: str) -> None:
        self.ok(await invites.load_invite(study_id, self.user_id, self.services.settings.app_url))

    async def delete(self, study_id: str) -> None:
        await invites.revoke_invite(study_id, self.user_id)
        self.ok(None)


class InviteRegenerateHandler(ApiHandler):
    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        data = self.parse(INVITE_SCHEMA, allow_empty=True)
        self.created(await invites.regenerate_invite(
            study_id, user_id, data.get("expires_in_hours"), data.get("max_uses"),
            self.services.settings.app_url))
