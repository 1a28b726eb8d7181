"""Membership and join flow (COUP.md §7.5) and my studies (§7.6).

Handlers parse and validate the request, then hand the whole decision to one store function
(`coup.store.membership` for writes, `coup.store.membership_reads` for reads), which checks
access and state under the study lock and records events and notifications.
"""

from __future__ import annotations

from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.store import membership, membership_reads
from coup.store.enums import JOIN_MOTIVATION, MEMBER_ROLE, MEMBER_STATUS, SKILL_LEVEL
from coup.validation import USER_ID, Choice, OptionalChoice, Problems, Text, query_choice

MEMBERS_PAGE_LIMIT = 50
JOIN_REQUESTS_PAGE_LIMIT = 20
MY_STUDIES_PAGE_LIMIT = 50
REASON = Text(required=False, nullable=True, max_len=200, multiline=True)


class JoinHandler(ApiHandler):
    schema = {
        "introduction": Text(required=False, nullable=True, max_len=300, multiline=True),
        "motivation": OptionalChoice(required=False, nullable=True, values=JOIN_MOTIVATION),
        "level": OptionalChoice(required=False, nullable=True, values=SKILL_LEVEL),
        # Codes are 8 characters; a wrong one of any sane length is INVITE_NOT_FOUND.
        "invite_code": Text(required=False, nullable=True, max_len=64),
    }

    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        data = self.parse(self.schema, allow_empty=True)
        invite_code = data.pop("invite_code", None)
        self.created(await membership.join_study(study_id, user_id, data, invite_code))


class LeaveHandler(ApiHandler):
    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        self.parse({}, allow_empty=True)
        self.ok(await membership.leave_study(study_id, user_id))


class JoinRequestsHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        page = parse_page(self.get_query_argument("page", None),
                          self.get_query_argument("limit", None),
                          default_limit=JOIN_REQUESTS_PAGE_LIMIT)
        found = await membership_reads.list_join_requests(study_id, user_id, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))


class ApproveHandler(ApiHandler):
    async def post(self, study_id: str, user_id: str) -> None:
        actor_id = self.user_id
        self.parse({}, allow_empty=True)
        self.ok(await membership.approve_request(study_id, actor_id, user_id))


class RejectHandler(ApiHandler):
    schema = {"reason": REASON}

    async def post(self, study_id: str, user_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.schema, allow_empty=True)
        await membership.reject_request(study_id, actor_id, user_id, data.get("reason"))
        self.ok(None)


class MembersHandler(ApiHandler):
    add_schema = {
        "user_id": USER_ID,
        "role": OptionalChoice(required=False, nullable=True, values=("ADMIN", "MEMBER")),
    }

    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        arg = self.get_query_argument
        problems = Problems()
        role = problems.check(query_choice, arg("role", None), "role", MEMBER_ROLE, None)
        status = problems.check(query_choice, arg("status", None), "status", MEMBER_STATUS,
                                "ACTIVE")
        page = problems.check(parse_page, arg("page", None), arg("limit", None),
                              default_limit=MEMBERS_PAGE_LIMIT)
        problems.raise_if_any()
        assert page is not None
        found = await membership_reads.list_members(study_id, user_id, role=role,
                                                    status=status or "ACTIVE", page=page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, study_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.add_schema)
        self.created(await membership.add_member(study_id, actor_id, data["user_id"],
                                                 data.get("role") or "MEMBER"))


class MemberHandler(ApiHandler):
    kick_schema = {"reason": REASON}

    async def delete(self, study_id: str, user_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.kick_schema, allow_empty=True)
        await membership.kick_member(study_id, actor_id, user_id, data.get("reason"))
        self.ok(None)


class MemberRoleHandler(ApiHandler):
    # OWNER passes validation so that it can be refused with OWNER_ROLE_LOCKED (§7.5).
    schema = {"role": Choice(values=MEMBER_ROLE)}

    async def patch(self, study_id: str, user_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.schema)
        self.ok(await membership.change_role(study_id, actor_id, user_id, data["role"]))


class TransferOwnershipHandler(ApiHandler):
    schema = {"target_user_id": USER_ID}

    async def post(self, study_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.schema)
        self.ok(await membership.transfer_ownership(study_id, actor_id, data["target_user_id"]))


class MyStudiesHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        arg = self.get_query_argument
        problems = Problems()
        study_filter = problems.check(query_choice, arg("filter", None), "filter",
                                      tuple(membership_reads.MY_STUDIES_STATUSES), "all")
        page = problems.check(parse_page, arg("page", None), arg("limit", None),
                              default_limit=MY_STUDIES_PAGE_LIMIT)
        problems.raise_if_any()
        assert page is not None
        found = await membership_reads.list_my_studies(user_id, study_filter or "all", page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

