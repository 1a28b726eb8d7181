"""The one error tree (COUP.md §2, PROTOCOL §2, COUP.md §9.4).

Code raises; one place renders: REST handlers turn an ApiError into the error envelope with its
HTTP status, and the WebSocket session turns it into a failure reply with its PROTOCOL code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Text:
    """A server-written message in both languages (COUP.md §1 item 15), Korean first."""

    ko: str
    en: str

    def in_language(self, language: str) -> str:
        return self.en if language == "en" else self.ko


@dataclass(frozen=True)
class ErrorKind:
    """How one semantic code is shown on each transport."""

    http_status: int
    ws_code: str
    message_ko: str
    message_en: str


ERROR_KINDS: dict[str, ErrorKind] = {
    "BAD_REQUEST": ErrorKind(400, "BAD_REQUEST", "요청 형식이 올바르지 않습니다.",
                             "The request is malformed."),
    "VALIDATION_ERROR": ErrorKind(400, "BAD_REQUEST", "입력값을 확인해 주세요.",
                                  "Some fields are invalid; see fields."),
    "WEAK_PASSWORD": ErrorKind(400, "BAD_REQUEST", "비밀번호가 너무 약합니다.",
                               "The password is too weak."),
    "PASSWORD_MISMATCH": ErrorKind(400, "BAD_REQUEST", "비밀번호 확인이 일치하지 않습니다.",
                                   "The password confirmation does not match."),
    "WRONG_PASSWORD": ErrorKind(400, "BAD_REQUEST", "현재 비밀번호가 올바르지 않습니다.",
                                "The current password is wrong."),
    "SAME_PASSWORD": ErrorKind(400, "BAD_REQUEST", "새 비밀번호가 현재 비밀번호와 같습니다.",
                               "The new password equals the current one."),
    "CONFIRMATION_MISMATCH": ErrorKind(400, "BAD_REQUEST", "확인 문구가 일치하지 않습니다.",
                                       "The confirmation does not match."),
    "CANNOT_KICK_SELF": ErrorKind(400, "BAD_REQUEST", "자기 자신은 강퇴할 수 없습니다.",
                                  "You cannot kick yourself."),
    "OWNER_ROLE_LOCKED": ErrorKind(400, "BAD_REQUEST",
                                   "소유자 역할은 위임으로만 바꿀 수 있습니다.",
                                   "Use transfer-ownership to change the owner."),
    "INVALID_TRANSFER_TARGET": ErrorKind(400, "BAD_REQUEST", "위임 대상이 올바르지 않습니다.",
                                         "The new owner must be an active ADMIN."),
    "CANNOT_REPORT_SELF": ErrorKind(400, "BAD_REQUEST", "자기 자신은 신고할 수 없습니다.",
                                    "You cannot report yourself."),
    "FILE_TYPE_NOT_ALLOWED": ErrorKind(400, "BAD_REQUEST", "허용되지 않는 파일 형식입니다.",
                                       "This file type is not allowed."),
    "FILE_REJECTED": ErrorKind(400, "BAD_REQUEST", "파일 내용이 형식과 일치하지 않습니다.",
                               "The file content does not match its type."),
    "OAUTH_STATE_INVALID": ErrorKind(400, "BAD_REQUEST", "로그인 요청이 만료되었습니다.",
                                     "The login attempt expired; start again."),
    "OAUTH_EMAIL_UNVERIFIED": ErrorKind(400, "BAD_REQUEST", "확인된 이메일이 없습니다.",
                                        "The provider gave no verified email."),
    "UNAUTHORIZED": ErrorKind(401, "UNAUTHORIZED", "로그인이 필요합니다.",
                              "Log in to continue."),
    "INVALID_CREDENTIALS": ErrorKind(401, "UNAUTHORIZED",
                                     "이메일 또는 비밀번호가 올바르지 않습니다.",
                                     "The email or password is wrong."),
    "FORBIDDEN": ErrorKind(403, "FORBIDDEN", "권한이 없습니다.",
                           "You do not have permission to do this."),
    "CSRF_FAILED": ErrorKind(403, "FORBIDDEN", "보안 토큰이 없거나 올바르지 않습니다.",
                             "Send the X-XSRFToken header from GET /api/auth/csrf."),
    "NOT_MEMBER": ErrorKind(403, "FORBIDDEN", "스터디 멤버가 아닙니다.",
                            "You are not a member of this study."),
    "ACCOUNT_SUSPENDED": ErrorKind(403, "FORBIDDEN", "정지된 계정입니다.",
                                   "This account is suspended."),
    "ACCOUNT_DELETED": ErrorKind(403, "FORBIDDEN", "탈퇴한 계정입니다.",
                                 "This account was deleted."),
    "RESTRICTED": ErrorKind(403, "RESTRICTED", "이용이 제한된 기능입니다.",
                            "Your account is restricted from this action."),
    "KICKED_MEMBER": ErrorKind(403, "FORBIDDEN", "강퇴된 스터디에는 다시 가입할 수 없습니다.",
                               "You were removed from this study and cannot rejoin."),
    "CANNOT_KICK_OWNER": ErrorKind(403, "FORBIDDEN", "스터디장은 강퇴할 수 없습니다.",
                                   "The owner cannot be removed."),
    "ROLE_HIERARCHY": ErrorKind(403, "FORBIDDEN", "같거나 높은 역할에는 할 수 없습니다.",
                                "The target's role is equal to or above yours."),
    "PROTECTED_ACCOUNT": ErrorKind(403, "FORBIDDEN", "보호된 계정입니다.",
                                   "This account is protected."),
    "SIGNUP_DISABLED": ErrorKind(403, "FORBIDDEN", "현재 회원가입이 중단되었습니다.",
                                 "Sign-up is currently disabled."),
    "FEATURE_DISABLED": ErrorKind(403, "FORBIDDEN", "현재 사용할 수 없는 기능입니다.",
                                  "This feature is currently disabled."),
    "NOT_FOUND": ErrorKind(404, "NOT_FOUND", "찾을 수 없습니다.", "Not found."),
    "INVITE_NOT_FOUND": ErrorKind(404, "NOT_FOUND", "초대 코드를 찾을 수 없습니다.",
                                  "The invite code is not valid."),
    "METHOD_NOT_ALLOWED": ErrorKind(405, "BAD_REQUEST", "지원하지 않는 메서드입니다.",
                                    "This method is not supported on this path."),
    "CONFLICT": ErrorKind(409, "CONFLICT", "요청이 현재 상태와 충돌합니다.",
                          "The request conflicts with the current state."),
    "EMAIL_TAKEN": ErrorKind(409, "CONFLICT", "이미 가입된 이메일입니다.",
                             "This email is already registered."),
    "OWNS_STUDIES": ErrorKind(409, "CONFLICT", "소유한 스터디를 먼저 위임하거나 삭제해 주세요.",
                              "Transfer or delete the studies you own first."),
    "OAUTH_ALREADY_LINKED": ErrorKind(409, "CONFLICT", "다른 계정에 연결된 계정입니다.",
                                      "This provider account is linked to another user."),
    "LAST_LOGIN_METHOD": ErrorKind(409, "CONFLICT", "마지막 로그인 수단은 해제할 수 없습니다.",
                                   "Set a password before unlinking your last login method."),
    "ALREADY_MEMBER": ErrorKind(409, "CONFLICT", "이미 스터디 멤버입니다.",
                                "You are already a member."),
    "APPLICATION_EXISTS": ErrorKind(409, "CONFLICT", "이미 가입 신청했습니다.",
                                    "You have already applied."),
    "STUDY_FULL": ErrorKind(409, "CONFLICT", "스터디 정원이 가득 찼습니다.", "The study is full."),
    "NOT_RECRUITING": ErrorKind(409, "CONFLICT", "모집 중이 아닙니다.", "Not recruiting."),
    "STUDY_CLOSED": ErrorKind(409, "CONFLICT", "종료된 스터디는 읽기 전용입니다.",
                              "This study is closed and read-only."),
    "OWNER_CANNOT_LEAVE": ErrorKind(409, "CONFLICT", "스터디장은 먼저 위임해야 합니다.",
                                    "Transfer ownership before leaving."),
    "PIN_LIMIT": ErrorKind(409, "CONFLICT", "고정 공지는 3개까지입니다.",
                           "At most 3 notices can be pinned."),
    "QUOTA_EXCEEDED": ErrorKind(409, "CONFLICT", "스터디 저장 공간이 부족합니다.",
                                "The study's storage quota would be exceeded."),
    "INVALID_TRANSITION": ErrorKind(409, "CONFLICT", "허용되지 않는 상태 변경입니다.",
                                    "This status change is not allowed."),
    "GROUP_NAME_TAKEN": ErrorKind(409, "CONFLICT", "이미 사용 중인 그룹 이름입니다.",
                                  "This group name is taken."),
    "GROUP_FULL": ErrorKind(409, "CONFLICT", "그룹 정원이 가득 찼습니다.", "The group is full."),
    "GROUP_NOT_EMPTY": ErrorKind(409, "CONFLICT", "멤버가 있는 그룹은 삭제할 수 없습니다.",
                                 "A group with members cannot be deleted."),
    "REPORT_EXISTS": ErrorKind(409, "CONFLICT", "이미 신고한 대상입니다.",
                               "You already have an open report on this."),
    "REPORT_CLOSED": ErrorKind(409, "CONFLICT", "처리가 끝난 신고입니다.",
                               "This report is already closed."),
    "ALREADY_SUSPENDED": ErrorKind(409, "CONFLICT", "이미 정지된 사용자입니다.",
                                   "The user is already suspended."),
    "NOT_SUSPENDED": ErrorKind(409, "CONFLICT", "정지되지 않은 사용자입니다.",
                               "The user is not suspended."),
    "INVITE_EXPIRED": ErrorKind(410, "CONFLICT", "만료된 초대 코드입니다.",
                                "The invite code has expired."),
    "INVITE_EXHAUSTED": ErrorKind(410, "CONFLICT", "사용 횟수를 모두 쓴 초대 코드입니다.",
                                  "The invite code has no uses left."),
    "FILE_GONE": ErrorKind(410, "NOT_FOUND", "파일이 저장소에 없습니다.",
                           "The file's content is missing from storage."),
    "REQUEST_TOO_LARGE": ErrorKind(413, "TOO_LARGE", "요청이 너무 큽니다.",
                                   "The request body is too large."),
    "FILE_TOO_LARGE": ErrorKind(413, "TOO_LARGE", "파일이 너무 큽니다.", "The file is too large."),
    "RATE_LIMITED": ErrorKind(429, "RATE_LIMITED",
                              "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
                              "Too many requests; retry later."),
    "INTERNAL": ErrorKind(500, "INTERNAL", "서버 오류가 발생했습니다.",
                          "An unexpected error occurred."),
    "OAUTH_FAILED": ErrorKind(502, "INTERNAL", "외부 로그인에 실패했습니다.",
                              "The login provider refused the request."),
    "OVERLOADED": ErrorKind(503, "OVERLOADED", "서버가 혼잡합니다. 잠시 후 다시 시도해 주세요.",
                            "The server is busy; retry later."),
    "MAINTENANCE": ErrorKind(503, "OVERLOADED", "점검 중입니다.", "Under maintenance."),
}


class ApiError(Exception):
    """A semantic error with a code from COUP.md §2.

    `fields` lists every failing input field; `details` carries the machine-readable context of
    ACCOUNT_SUSPENDED, RESTRICTED, RATE_LIMITED and OWNS_STUDIES.
    """

    default_code = "INTERNAL"

    def __init__(
        self,
        code: str | None = None,
        message: str | Text | None = None,
        *,
        fields: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code or self.default_code
        if self.code not in ERROR_KINDS:
            raise ValueError(f"unknown error code {self.code}")
        self.custom_message = message
        self.fields = dict(fields) if fields else None
        self.details = dict(details) if details else None
        logged = message.en if isinstance(message, Text) else message
        super().__init__(f"{self.code}: {logged or ''}")

    @property
    def kind(self) -> ErrorKind:
        return ERROR_KINDS[self.code]

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    @property
    def ws_code(self) -> str:
        return self.kind.ws_code

    def message(self, language: str = "ko") -> str:
        if isinstance(self.custom_message, Text):
            return self.custom_message.in_language(language)
        if self.custom_message:
            return self.custom_message
        return self.kind.message_en if language == "en" else self.kind.message_ko

    def to_json(self, language: str = "ko") -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message(language)}
        if self.fields:
            body["fields"] = self.fields
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(ApiError):
    default_code = "BAD_REQUEST"


class InboundTextError(BadRequest):
    """A request or frame breaks the inbound text rule (coup/inbound.py): invalid UTF-8, an
    unpaired surrogate, a NUL in a name, a non-finite number, or nesting beyond the limit."""


class ValidationError(ApiError):
    default_code = "VALIDATION_ERROR"

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        super().__init__("VALIDATION_ERROR", message, fields=fields)


class Unauthorized(ApiError):
    default_code = "UNAUTHORIZED"


class Forbidden(ApiError):
    default_code = "FORBIDDEN"


class NotFound(ApiError):
    default_code = "NOT_FOUND"


class Conflict(ApiError):
    default_code = "CONFLICT"


class RateLimited(ApiError):
    default_code = "RATE_LIMITED"

    def __init__(self, retry_after_seconds: float, message: str | None = None) -> None:
        self.retry_after_ms = max(1, int(retry_after_seconds * 1000))
        super().__init__("RATE_LIMITED", message, details={"retry_after_ms": self.retry_after_ms})


class Overloaded(ApiError):
    default_code = "OVERLOADED"
