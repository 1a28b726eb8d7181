"""User-facing reports (COUP.md §7.17): file a report, list my reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.store import reports
from coup.store.enums import REPORT_TYPE, TARGET_TYPE
from coup.validation import ID_PATTERN, Choice, FieldInvalid, Rule, Text

# §7.17: the reporter's evidence is a JSON object of at most 10 KB (10,240 bytes) serialised
# as compact UTF-8 JSON, which is how clients send it.
EVIDENCE_MAX_BYTES = 10 * 1024


@dataclass(frozen=True)
class EvidenceObject(Rule):
    """Free-form evidence (`{"urls": [...], "note": "..."}`): any JSON object within the size."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise FieldInvalid("must be a JSON object")
        compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if len(compact.encode("utf-8")) > EVIDENCE_MAX_BYTES:
            raise FieldInvalid(f"must be at most {EVIDENCE_MAX_BYTES} bytes as JSON")
        return value


REPORT_SCHEMA: dict[str, Rule] = {
    "target_type": Choice(values=TARGET_TYPE),
    "target_id": Text(max_len=32, pattern=ID_PATTERN, pattern_reason="must be an id"),
    "type": Choice(values=REPORT_TYPE),
    "reason": Text(min_len=10, max_len=1000, multiline=True),
    "evidence": EvidenceObject(required=False, nullable=True),
}


class ReportsHandler(ApiHandler):
    async def post(self) -> None:
        user_id = self.user_id
        data = self.parse(REPORT_SCHEMA)
        report = reports.NewReport(
            target_type=data["target_type"], target_id=data["target_id"], type=data["type"],
            reason=data["reason"], evidence=data.get("evidence"),
        )
        rate = self.services.limits.report
        self.created(await reports.file_report(user_id, report, limit=rate.count,
                                               window_seconds=rate.window_seconds))


class MyReportsHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        page = parse_page(self.get_query_argument("page", None),
                          self.get_query_argument("limit", None))
        found = await reports.list_my_reports(user_id, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))
