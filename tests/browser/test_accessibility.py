"""axe-core on every page of the app: no `serious` or `critical` violation (issue 12).

axe-core comes from web/node_modules (a pinned devDependency) and is injected into each page
with Playwright's add_script_tag; nothing is downloaded. The contexts bypass the page's CSP,
which (rightly) refuses the injected inline script.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, REPO_ROOT, api_post
from tests.browser.pages_support import seed_pages

AXE_SCRIPT = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = {"serious", "critical"}

# The study room's tabs other than chat are built by the other web engineer (issue 12, part
# "room", routes /studies/:id/room/<tab>). A tab listed here is not built yet: its scan still
# runs, but a failure (the tab missing, or a violation in it) is reported as XFAIL rather than
# failing this suite. Every tab has landed (commit 9a7ad11), so the set is empty.
ROOM_TABS_NOT_BUILT: set[str] = set()

# Pages whose scan fails today for a cause in files the pages engineer does not own, with the
# cause. They still run and show as XFAIL with the reason (XPASS once fixed: then delete them).
FAILING_ELSEWHERE: dict[str, str] = {
    # Empty: the calendar tab's day buttons and colours were fixed in commit 3a4c10b.
}

# Violations whose cause is in a shared file neither pages engineer owns, as (rule, a class on the
# offending element, where the fix belongs). They are reported as warnings on every run, not
# failures, until the owner fixes them; then delete the entry and the scan enforces the rule.
# (rule, css class, owning file): none at the moment; --color-success was darkened to 4.53:1.
KNOWN_SHARED_VIOLATIONS: list[tuple[str, str, str]] = []

ROOM_TAB_LABELS = {"chat": "채팅", "home": "홈", "notices": "공지", "files": "파일",
                   "calendar": "일정", "tasks": "할 일", "attendance": "출석", "members": "멤버",
                   "settings": "설정", "call": "화상 통화"}

Ready = Callable[[Any], None]


def text(value: str) -> Ready:
    return lambda page: expect(page.get_by_text(value).first).to_be_visible()


def heading(value: str) -> Ready:
    return lambda page: expect(page.get_by_role("heading", name=value).first).to_be_visible()


def room_tab(tab: str) -> Ready:
    def ready(page: Any) -> None:
        menu = page.get_by_role("navigation", name="스터디룸 메뉴")
        expect(menu.get_by_role("link", name=ROOM_TAB_LABELS[tab])).to_have_attribute(
            "aria-current", "page", timeout=5_000)
    return ready


def click(name: str) -> Callable[[Any], None]:
    return lambda page: page.get_by_role("button", name=name).click()


def study(key: str, suffix: str = "") -> Callable[[dict[str, Any]], str]:
    return lambda seeded: f"/studies/{seeded[key]['id']}{suffix}"


PAGES: list[tuple[str, str | None, Any, Ready, Callable[[Any], None] | None]] = [
    # (name, who, path or a function of the seeded data, ready check, an action before the scan)
    ("landing", None, "/", heading("함께 공부하면 더 멀리 갑니다"), None),
    ("sign-in", None, "/sign-in", text("다시 오신 것을 환영합니다."), None),
    ("sign-up", None, "/sign-up", text("이메일로 1분 만에 가입하세요."), None),
    ("explore-guest", None, "/studies", text("토익 900 스터디"), None),
    ("study-detail-guest", None, study("study"), text("로그인하고 신청하기"), None),
    ("join-invite", None, lambda s: f"/join/{s['invite_code']}", text("로그인하고 참여하기"), None),
    ("terms", None, "/terms", heading("이용약관"), None),
    ("privacy", None, "/privacy", heading("개인정보 처리방침"), None),
    ("not-found", None, "/no-such-page", heading("페이지를 찾을 수 없습니다"), None),
    ("dashboard", "member", "/dashboard", heading("안녕하세요, 이서연님"), None),
    ("dashboard-editing", "member", "/dashboard", heading("안녕하세요, 이서연님"),
     click("위젯 편집")),
    ("explore", "member", "/studies", text("토익 900 스터디"), None),
    ("study-detail-member", "member", study("study"), text("스터디룸 입장"), None),
    ("study-detail-pending", "member", study("manual_study"), text("승인 대기 중"), None),
    ("study-detail-owner", "owner", study("manual_study"), text("가입 신청 1건"), None),
    ("create-study", "owner", "/studies/new", heading("스터디 만들기"), None),
    ("my-studies", "member", "/my-studies", text("토익 900 스터디"), None),
    ("notifications", "member", "/notifications", text("새 공지: 이번 주 범위 안내"), None),
    ("notification-bell", "member", "/dashboard", heading("안녕하세요, 이서연님"),
     lambda page: page.get_by_role("button", name=re.compile("알림 열기")).click()),
    ("tasks", "member", "/tasks", text("모의고사 오답 정리"), None),
    ("profile", "member", "/me", heading("로그인한 기기"), None),
    ("user-profile", "member", lambda s: f"/users/{s['owner_user']['id']}", heading("김민수"),
     None),
    ("report-dialog", "member", lambda s: f"/users/{s['owner_user']['id']}", heading("김민수"),
     click("신고")),
    ("groups", "member", "/groups", text("서울 개발자 모임"), None),
    ("group-create", "member", "/groups/new", heading("그룹 만들기"), None),
    ("group-detail-owner", "member", lambda s: f"/groups/{s['group']['id']}",
     heading("초대"), None),
    ("group-detail-member", "owner", lambda s: f"/groups/{s['group']['id']}",
     text("그룹 나가기"), None),
    ("reports", "member", "/reports", text("김민수"), None),
    ("confirm-dialog", "member", "/tasks", text("모의고사 오답 정리"),
     lambda page: page.get_by_role("button", name="삭제: 모의고사 오답 정리").click()),
    ("room-chat", "member", study("study", "/room"), room_tab("chat"), None),
    *[(f"room-{tab}", "owner" if tab == "settings" else "member", study("study", f"/room/{tab}"),
       room_tab(tab), None) for tab in ROOM_TAB_LABELS if tab != "chat"],
]


def page_params() -> list[Any]:
    params = []
    for entry in PAGES:
        name = entry[0]
        tab = name.removeprefix("room-")
        pending = name.startswith("room-") and tab in ROOM_TABS_NOT_BUILT
        reason = (f"room tab '{tab}' is not built yet (ROOM_TABS_NOT_BUILT)" if pending
                  else FAILING_ELSEWHERE.get(name))
        marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
        params.append(pytest.param(*entry, id=entry[0], marks=marks))
    return params


@pytest.fixture(scope="module")
def seeded(browser: Any, web_server: Any) -> dict[str, Any]:
    data = seed_pages(browser, web_server.base_url)
    owner = browser.new_context(base_url=web_server.base_url, storage_state=data["owner"])
    member = browser.new_context(base_url=web_server.base_url, storage_state=data["member"])
    try:
        manual = api_post(owner, "/api/studies", {
            "emoji": "💻", "name": "React 실전 프로젝트", "category": "개발", "max_members": 6,
            "description": "React와 TypeScript로 작은 서비스를 함께 만들어 배포까지 해 봅니다.",
            "auto_approve": False})
        api_post(member, f"/api/studies/{manual['id']}/join",
                 {"introduction": "프론트엔드 취업을 준비하고 있습니다."})
        api_post(owner, f"/api/studies/{data['study']['id']}/chat", {"content": "반가워요!"})
    finally:
        owner.close()
        member.close()
    return {**data, "manual_study": manual}


def known_shared(rule: str, html: str) -> str | None:
    for known_rule, css_class, owner in KNOWN_SHARED_VIOLATIONS:
        if rule == known_rule and re.search(rf'class="[^"]*\b{css_class}\b', html):
            return owner
    return None


def serious_violations(page: Any, name: str) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((node) => ({ target: node.target.join(" "), html: node.html })) }));
    }""")
    serious = []
    for violation in violations:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        nodes = []
        for node in violation["nodes"]:
            owner = known_shared(violation["id"], node["html"])
            if owner:
                warnings.warn(f"{name}: known {violation['id']} on {node['target']} ({owner})",
                              stacklevel=1)
            else:
                nodes.append(node["target"])
        if nodes:
            serious.append({**violation, "nodes": nodes[:5]})
    return serious


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {v['impact']} {v['id']}: {v['help']} -> {v['nodes']}" for v in violations)


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize(("name", "who", "path", "ready", "action"), page_params())
def test_page_has_no_serious_accessibility_violation(
        browser: Any, web_server: Any, seeded: dict[str, Any], size: str, name: str,
        who: str | None, path: Any, ready: Ready, action: Callable[[Any], None] | None) -> None:
    context = browser.new_context(
        base_url=web_server.base_url, viewport=DESKTOP if size == "desktop" else PHONE,
        locale="ko-KR", timezone_id="Asia/Seoul", bypass_csp=True,
        storage_state=seeded[who] if who else None)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(path(seeded) if callable(path) else path)
        ready(page)
        if who:
            expect(page.get_by_test_id("connection-state")).to_have_attribute(
                "data-state", "connected")
        if action:
            action(page)
        page.wait_for_load_state("networkidle")
        violations = serious_violations(page, f"{name} ({size})")
        assert not violations, f"{name} ({size}):\n{describe(violations)}"
    finally:
        context.close()
