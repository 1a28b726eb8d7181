"""The study room's tabs, two people in two browser contexts (issue 12 scenarios 2 and 4).

The owner and a member sit in the same room. Whatever one of them does in the notices, files,
calendar, tasks or attendance tab, the other sees without reloading; the owner removes the
member with a reason and the member is taken out of the room with a message.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.room_support import MEMBER_NAME, OWNER_NAME, Room, seed_room

SEOUL = ZoneInfo("Asia/Seoul")
OVERLAP = "같은 시간대에 다른 일정이 있습니다: LC 모의고사"
# A real PNG header is what the server's magic-number check wants; text named .png is refused.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def open_room(context: Any, room: Room, tab: str) -> Any:
    page = context.new_page()
    page.goto(room.url(tab))
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    return page


def tab(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="스터디룸 메뉴").get_by_role("link", name=name).click()


def test_notices_files_calendar_tasks_and_attendance_are_live_for_the_other_member(
        new_context: Any) -> None:
    room = seed_room(new_context(), new_context())
    owner = open_room(room.owner, room, "notices")
    member = open_room(room.member, room, "notices")
    expect(member.get_by_text("아직 공지가 없습니다")).to_be_visible()
    # A member cannot write notices; the owner can.
    expect(member.get_by_role("button", name="공지 작성")).to_have_count(0)

    # Notices: the owner writes a formatted, pinned notice; the member sees it arrive.
    owner.get_by_role("button", name="공지 작성").click()
    owner.get_by_label("제목", exact=True).fill("이번 주 모의고사 안내")
    editor = owner.get_by_role("textbox", name="내용")
    editor.fill("토요일 10시에 모의고사를 봅니다.")
    editor.press("Control+a")
    owner.get_by_role("button", name="굵게 (Ctrl+B)").click()
    owner.get_by_label("상단에 고정 (최대 3개)").check()
    owner.get_by_label("중요 공지").check()
    owner.get_by_role("button", name="게시").click()
    expect(owner.get_by_role("heading", name="이번 주 모의고사 안내")).to_be_visible()
    expect(owner.locator(".notice-body :is(b, strong)", has_text="토요일 10시에")).to_be_visible()

    notice = member.get_by_role("link", name=re.compile("이번 주 모의고사 안내"))
    expect(notice).to_be_visible()
    expect(notice.get_by_text("고정")).to_be_visible()
    expect(notice.get_by_text("중요")).to_be_visible()
    notice.click()
    bold = member.locator(".notice-body :is(b, strong)")
    expect(bold).to_have_text("토요일 10시에 모의고사를 봅니다.")
    # Opening it counted a view: the owner's own view and the member's.
    expect(member.get_by_test_id("notice-views")).to_have_text("조회 2")

    # Files: the member uploads with a progress bar; the owner sees the file and downloads it.
    tab(owner, "파일")
    tab(member, "파일")
    expect(owner.get_by_text("아직 파일이 없습니다")).to_be_visible()
    cdp = room.member.new_cdp_session(member)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 256 * 1024})
    member.get_by_label("올릴 폴더").fill("모의고사")
    member.get_by_label("파일 올리기").set_input_files(files=[{
        "name": "LC-정답표.txt", "mimeType": "text/plain",
        "buffer": "정답: 1-A 2-B 3-C\n".encode() * 40_000}])
    progress = member.get_by_role("progressbar", name="LC-정답표.txt 업로드 진행률")
    expect(progress).to_be_visible()
    member.wait_for_function(
        "() => { const bar = document.querySelector('.upload-progress');"
        " return bar && bar.value > 0 && bar.value < 100; }")
    expect(member.get_by_text("완료", exact=True)).to_be_visible(timeout=30_000)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    owner_files = owner.get_by_role("list", name="파일 목록")
    expect(owner_files.get_by_text("LC-정답표.txt")).to_be_visible()
    expect(owner.get_by_text("📂 모의고사")).to_be_visible()
    storage = owner.get_by_role("meter", name="저장 공간 사용량")
    expect(storage).not_to_have_attribute("aria-valuenow", "0")
    with owner.expect_download() as download:
        owner.get_by_role("link", name="내려받기: LC-정답표.txt").click()
    assert download.value.suggested_filename == "LC-정답표.txt"

    # The server's upload rules are shown as the server words them.
    member.get_by_label("파일 올리기").set_input_files(files=[{
        "name": "fake.png", "mimeType": "image/png", "buffer": b"not really a picture"}])
    refusal = member.get_by_role("alert").filter(has_text="파일 내용이 형식과 맞지 않아")
    expect(refusal).to_be_visible()
    member.get_by_label("파일 올리기").set_input_files(files=[{
        "name": "cover.png", "mimeType": "image/png", "buffer": PNG}])
    expect(owner_files.get_by_text("cover.png")).to_be_visible()

    # Calendar: the owner adds two overlapping events; the member sees them on the month grid.
    tab(owner, "일정")
    tab(member, "일정")
    tomorrow = (datetime.now(SEOUL) + timedelta(days=1)).date().isoformat()
    for title, start, end in (("LC 모의고사", "10:00", "12:00"), ("RC 풀이", "11:00", "13:00")):
        owner.get_by_role("button", name="일정 추가").click()
        owner.get_by_label("제목", exact=True).fill(title)
        owner.get_by_label("날짜").fill(tomorrow)
        owner.get_by_label("시작").fill(start)
        owner.get_by_label("종료").fill(end)
        owner.get_by_label("장소").fill("강남역 스터디카페")
        if title == "RC 풀이":  # the overlap is shown before saving and after
            expect(owner.get_by_text(OVERLAP)).to_be_visible()
        owner.get_by_role("button", name="추가", exact=True).click()
        expect(owner.get_by_role("heading", name="일정 추가")).to_have_count(0)
    expect(owner.get_by_text(OVERLAP).first).to_be_visible()
    day = member.get_by_role("button", name=re.compile(f"{tomorrow}, 일정 2개"))
    expect(day).to_be_visible()
    day.click()
    that_day = member.get_by_role("region", name=f"{tomorrow} 일정")
    expect(that_day.get_by_text("RC 풀이")).to_be_visible()
    expect(that_day.get_by_text("11:00–13:00")).to_be_visible()

    # Tasks: the owner assigns a task to the member, who drags it to "진행 중"; the owner sees
    # it move.
    tab(owner, "할 일")
    tab(member, "할 일")
    owner.get_by_role("button", name="할 일 추가").click()
    owner.get_by_label("제목", exact=True).fill("파트 5 단어 정리")
    owner.get_by_label("우선순위").select_option("HIGH")
    owner.get_by_label(MEMBER_NAME, exact=True).check()
    owner.get_by_role("button", name="추가", exact=True).click()
    todo_member = member.get_by_role("region", name=re.compile("^할 일"))
    card = todo_member.get_by_role("listitem", name="파트 5 단어 정리")
    expect(card).to_be_visible()
    # Only allowed moves are offered: TODO goes to 진행 중 or 취소, never straight to 완료.
    options = card.get_by_label("‘파트 5 단어 정리’ 옮기기").locator("option").all_inner_texts()
    assert options == ["옮기기…", "진행 중", "취소"]
    card.drag_to(member.get_by_role("region", name=re.compile("^진행 중")))
    owner_doing = owner.get_by_role("region", name=re.compile("^진행 중"))
    expect(owner_doing.get_by_role("listitem", name="파트 5 단어 정리")).to_be_visible()
    # The keyboard way: the move menu on the card.
    owner_doing.get_by_label("‘파트 5 단어 정리’ 옮기기").select_option("REVIEW")
    expect(member.get_by_role("region", name=re.compile("^검토"))
           .get_by_role("listitem", name="파트 5 단어 정리")).to_be_visible()

    # Attendance: the member checks in; the owner sees who checked in.
    tab(owner, "출석")
    tab(member, "출석")
    expect(owner.get_by_text("아직 아무도 출석하지 않았습니다")).to_be_visible()
    member.get_by_role("button", name="출석하기").click()
    expect(member.get_by_text("오늘 출석했습니다")).to_be_visible()
    # Check-ins have no room event (COUP.md §9.2): the open tab polls every 5 s.
    who = owner.get_by_role("list", name="출석한 멤버")
    expect(who.get_by_text(MEMBER_NAME)).to_be_visible(timeout=12_000)
    expect(owner.get_by_role("heading", name="출석한 멤버 1 / 2")).to_be_visible()

    # Editing the notice to attach the uploaded file reaches the member's open notice.
    for page in (member, owner):
        tab(page, "공지")
        page.get_by_role("link", name=re.compile("이번 주 모의고사 안내")).click()
    owner.get_by_role("button", name="수정").click()
    owner.get_by_label("LC-정답표.txt", exact=True).check()
    owner.get_by_role("button", name="저장").click()
    attachments = member.get_by_role("list", name="첨부 파일")
    expect(attachments.get_by_role("link", name="📎 LC-정답표.txt")).to_be_visible()

    # Home sums it up for the member.
    tab(member, "홈")
    home = {name: member.get_by_role("region", name=name)
            for name in ("오늘의 출석", "다가오는 일정", "최근 공지", "내 할 일", "최근 파일")}
    expect(home["최근 공지"].get_by_role("link", name=re.compile("모의고사 안내"))).to_be_visible()
    expect(home["다가오는 일정"].get_by_text("LC 모의고사")).to_be_visible()
    expect(home["내 할 일"].get_by_text("파트 5 단어 정리")).to_be_visible()
    expect(home["최근 파일"].get_by_text("LC-정답표.txt")).to_be_visible()
    expect(home["오늘의 출석"].get_by_text("출석 완료 · 1일 연속")).to_be_visible()


def test_the_owner_removes_a_member_with_a_reason_and_the_member_is_taken_out(
        new_context: Any) -> None:
    room = seed_room(new_context(), new_context())
    member = open_room(room.member, room, "")
    expect(member.get_by_text("온라인 1명").or_(member.get_by_text("온라인 2명"))).to_be_visible()
    owner = open_room(room.owner, room, "members")
    expect(member.get_by_text("온라인 2명")).to_be_visible()

    # Only the owner and admins see the remove button; never on the owner's own row.
    expect(owner.get_by_role("button", name=f"내보내기: {OWNER_NAME}")).to_have_count(0)
    owner.get_by_role("button", name=f"내보내기: {MEMBER_NAME}").click()
    dialog = owner.get_by_role("dialog", name=f"{MEMBER_NAME}님을 내보낼까요?")
    dialog.get_by_label("사유 (선택)").fill("3주 연속 불참")
    dialog.get_by_role("button", name="내보내기", exact=True).click()
    expect(owner.get_by_text(f"{MEMBER_NAME}님을 내보냈습니다.")).to_be_visible()
    expect(owner.get_by_role("list", name="멤버 목록").get_by_text(MEMBER_NAME)).to_have_count(0)

    expect(member.get_by_text("스터디에서 내보내졌습니다.")).to_be_visible()
    expect(member.get_by_text(re.compile("내보내졌습니다: 3주 연속 불참"))).to_be_visible()
    expect(member).to_have_url(re.compile(f"/studies/{room.study_id}$"))
    member.goto(room.url("notices"))
    expect(member.get_by_text("이 스터디의 멤버만 스터디룸에 들어갈 수 있습니다.")).to_be_visible()


def test_chat_messages_are_edited_deleted_attached_and_searched_live(new_context: Any) -> None:
    room = seed_room(new_context(), new_context())
    member = open_room(room.member, room, "")
    owner = open_room(room.owner, room, "")
    box = member.get_by_label("메시지 입력")
    box.fill("모의고사는 토요일 9시예요")
    box.press("Enter")
    seen = owner.locator(".msg", has_text="모의고사는 토요일")
    expect(seen).to_be_visible()

    # The author edits through the message menu; the other side sees the new text, marked edited.
    mine = member.locator(".msg-mine", has_text="모의고사는 토요일 9시예요")
    mine.hover()
    mine.get_by_role("button", name="메시지 메뉴").click()
    mine.get_by_role("button", name="수정").click()
    edit = member.get_by_label("메시지 수정")
    edit.fill("모의고사는 토요일 10시예요")
    edit.press("Enter")
    expect(seen.locator(".bubble")).to_have_text("모의고사는 토요일 10시예요")
    expect(seen.get_by_text("수정됨")).to_be_visible()

    # A file attached in the chat: uploaded with the caption, shown to the other side.
    box.fill("정답표 올려요")
    member.get_by_label("파일 첨부").set_input_files(files=[{
        "name": "정답표.pdf", "mimeType": "application/pdf",
        "buffer": b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"}])
    attached = owner.locator(".msg", has_text="정답표 올려요")
    expect(attached.get_by_role("link", name="📎 정답표.pdf")).to_be_visible()

    # Search finds the edited text.
    owner.get_by_role("button", name="🔍 검색").click()
    owner.get_by_role("searchbox", name="메시지 검색").fill("10시")
    owner.get_by_role("searchbox", name="메시지 검색").press("Enter")
    results = owner.get_by_role("list", name="검색 결과 1건")
    expect(results.get_by_text("모의고사는 토요일 10시예요")).to_be_visible()
    owner.get_by_role("search").get_by_role("button", name="닫기").click()

    # The owner removes someone else's message; it disappears for its author too.
    seen.hover()
    seen.get_by_role("button", name="메시지 메뉴").click()
    expect(seen.get_by_role("button", name="수정")).to_have_count(0)
    seen.get_by_role("button", name="삭제").click()
    owner.get_by_role("dialog").get_by_role("button", name="삭제").click()
    expect(owner.locator(".msg", has_text="모의고사는 토요일")).to_have_count(0)
    expect(member.locator(".msg", has_text="모의고사는 토요일")).to_have_count(0)


def test_the_owner_manages_roles_invites_and_the_study(new_context: Any) -> None:
    room = seed_room(new_context(), new_context())
    owner = open_room(room.owner, room, "members")
    member = open_room(room.member, room, "members")

    # A role change reaches the member's page live; ownership goes to an admin only.
    expect(owner.get_by_role("button", name=f"스터디장 넘기기: {MEMBER_NAME}")).to_have_count(0)
    owner.get_by_label(f"{MEMBER_NAME}님의 역할").select_option("ADMIN")
    expect(owner.get_by_text(f"{MEMBER_NAME}님의 역할을 관리자(으)로 바꿨습니다.")).to_be_visible()
    members = member.get_by_role("list", name="멤버 목록")
    them = members.locator(".member-row", has_text=MEMBER_NAME)
    expect(them.get_by_text("관리자")).to_be_visible()
    # As an admin the member now sees the settings tab (invites only).
    expect(member.get_by_role("link", name="설정")).to_be_visible()

    # Invite code: create, copy the /join link, regenerate (the old code stops), revoke.
    tab(owner, "설정")
    owner.get_by_role("button", name="초대 코드 만들기").click()
    code = owner.get_by_label("초대 코드", exact=True).inner_text()
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", code), code
    link = owner.get_by_label("초대 링크")
    expect(link).to_have_value(re.compile(f"/join/{code}$"))
    owner.get_by_role("button", name="새 코드로 바꾸기").click()
    expect(owner.get_by_label("초대 코드", exact=True)).not_to_have_text(code)
    owner.get_by_role("button", name="코드 없애기").click()
    owner.get_by_role("dialog").get_by_role("button", name="코드 없애기").click()
    expect(owner.get_by_text("초대 코드가 없습니다.")).to_be_visible()

    # Editing the study shows on the member's header live.
    owner.get_by_label("스터디 이름", exact=True).fill("토익 900 목표 스터디")
    owner.get_by_role("button", name="저장").click()
    expect(owner.get_by_text("스터디 정보를 저장했습니다.")).to_be_visible()
    expect(member.get_by_role("heading", name="토익 900 목표 스터디", level=1)).to_be_visible()

    # Ownership moves to the new admin: the old owner becomes an admin.
    tab(owner, "멤버")
    owner.get_by_role("button", name=f"스터디장 넘기기: {MEMBER_NAME}").click()
    owner.get_by_role("dialog").get_by_role("button", name="스터디장 넘기기").click()
    expect(owner.get_by_text(f"{MEMBER_NAME}님이 새 스터디장이 되었습니다.")).to_be_visible()
    rows = owner.get_by_role("list", name="멤버 목록")
    new_owner = rows.locator(".member-row", has_text=MEMBER_NAME)
    expect(new_owner.get_by_text("스터디장")).to_be_visible()
    expect(rows.locator(".member-row", has_text=OWNER_NAME).get_by_text("관리자")).to_be_visible()
    expect(member.get_by_label(f"{OWNER_NAME}님의 역할")).to_have_value("ADMIN")
