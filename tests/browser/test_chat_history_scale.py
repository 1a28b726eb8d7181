"""Issue 12: a study room with 10,000 messages of history scrolls smoothly (virtualised list).

The messages go straight into the test server's SQLite database (the REST endpoint is rate
limited and would take minutes): one transaction, seq after the study's current `last_seq`,
which is moved to the newest. Nobody has opened the room yet, so no room actor holds an old
head. The person then scrolls back through several pages; the DOM must hold a bounded number of
rows, and the pages must arrive newest first, each older than the last (`before_seq` falling).
No timing assertions.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tests.browser.conftest import WebServer
from tests.browser.room_support import seed_room

TOTAL = 10_000
PAGE = 50  # the chat's page size (features/chat/use-chat.ts)
PAGES_BACK = 6
MAX_ROWS = 80  # what a virtualised list may keep for a 900 px tall view (plus overscan)
NUMBER = re.compile(r"메시지 (\d{5})")


def insert_history(server: WebServer, study_id: str, user_ids: list[str]) -> None:
    database = server.log_path.parent / "coup.db"
    now = datetime.now(UTC).replace(tzinfo=None)
    db = sqlite3.connect(database, timeout=30)
    with db:  # one transaction
        (last_seq,) = db.execute(
            "SELECT last_seq FROM studies WHERE id = ?", (study_id,)).fetchone()
        rows = []
        for n in range(1, TOTAL + 1):
            stamp = str(now - timedelta(minutes=TOTAL - n))
            rows.append((secrets.token_urlsafe(16), study_id, user_ids[n % len(user_ids)],
                         f"seed-{n}", last_seq + n, f"메시지 {n:05d}", stamp, stamp))
        db.executemany(
            "INSERT INTO messages (id, study_id, user_id, client_id, seq, content, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE studies SET last_seq = ? WHERE id = ?", (last_seq + TOTAL, study_id))
    db.close()


def shown_numbers(rows: Any) -> list[int]:
    """The message numbers in the DOM, in list order (the rows' data-index)."""
    items = rows.evaluate_all(
        "els => els.map(el => [Number(el.dataset.index), el.innerText])")
    numbers = []
    for _, text in sorted(items):
        found = NUMBER.search(text)
        if found:
            numbers.append(int(found.group(1)))
    return numbers


def test_ten_thousand_messages_scroll_back_with_a_bounded_dom(
        new_context: Any, web_server: WebServer) -> None:
    owner, member = new_context(), new_context()
    room = seed_room(owner, member)
    insert_history(web_server, room.study_id, [room.owner_id, room.member_id])

    page = owner.new_page()
    before: list[int] = []

    def on_request(request: Any) -> None:
        url = urlparse(request.url)
        if url.path == f"/api/studies/{room.study_id}/chat":
            query = parse_qs(url.query)
            if "before_seq" in query:
                before.append(int(query["before_seq"][0]))

    page.on("request", on_request)
    page.goto(room.url())
    scroller = page.get_by_role("region", name="메시지 목록")
    rows = scroller.get_by_role("listitem")
    expect(scroller.get_by_text(f"메시지 {TOTAL:05d}", exact=True)).to_be_visible()

    oldest_loaded = TOTAL - PAGE + 1
    for step in range(1, PAGES_BACK + 1):
        scroller.evaluate("el => el.scrollTop = 0")
        # The page older than what was loaded arrives, and the view stays on the message that
        # was at the top, so the one just above it is rendered.
        expect(scroller.get_by_text(f"메시지 {oldest_loaded - 1:05d}", exact=True)).to_be_attached()
        assert len(before) == step, before
        oldest_loaded -= PAGE
        count = rows.count()
        assert count <= MAX_ROWS, f"{count} rows in the DOM after {step} pages back"
        numbers = shown_numbers(rows)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers

    # Older pages were asked for in seq order: each before_seq below the one before.
    assert before == sorted(before, reverse=True) and len(set(before)) == len(before), before
    assert before[1] - before[0] == -PAGE, before
    assert rows.count() <= MAX_ROWS
