"""Background jobs (COUP.md §12) on SQLite and PostgreSQL: each job changes the rows it should
and leaves the others alone; the scheduler runs jobs under the lock and survives failures.

The database is shared by the whole test session, so counts are checked as lower bounds and
every assertion about rows names this test's own rows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time as time_module
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from coup import file_storage, jobs, jobs_uploads
from coup.jobs import JOBS, JobScheduler, JobSpec, run_job, seconds_until
from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import (
    File,
    FileDownloadLog,
    Group,
    GroupInvite,
    LoginFailure,
    Notification,
    OAuthState,
    Sanction,
    Session,
    Study,
    StudyEvent,
    StudyMember,
    Task,
    User,
)
from tests.conftest import Api, LiveServer

DAY = timedelta(days=1)


def run(server: LiveServer, name: str) -> dict[str, int]:
    return server.call(run_job(name, server.settings), timeout=120)


# --- row helpers ------------------------------------------------------------------------------


@db_transaction
def set_user(user_id: str, **changes: Any) -> None:
    User.update(**changes).where(User.id == user_id).execute()


@db_task
def user_row(user_id: str) -> dict[str, Any]:
    return User.select().where(User.id == user_id).dicts().get()


@db_transaction
def add_sanction(user_id: str, admin_id: str, kind: str, expires_at: datetime | None,
                 restrictions: list[str] | None = None) -> str:
    return Sanction.create(user=user_id, admin=admin_id, type=kind, reason="테스트",
                           expires_at=expires_at, is_active=True, created_at=utcnow(),
                           metadata={"restrictions": restrictions} if restrictions else None).id


@db_task
def sanction_active(sanction_id: str) -> bool:
    return Sanction.get_by_id(sanction_id).is_active


@db_task
def exists(model_name: str, row_id: Any) -> bool:
    model = {"Session": Session, "OAuthState": OAuthState, "LoginFailure": LoginFailure,
             "Notification": Notification, "Study": Study, "File": File,
             "FileDownloadLog": FileDownloadLog, "Task": Task}[model_name]
    return model.select().where(model.id == row_id).exists()


@db_transaction
def add_session(user_id: str, *, expires_at: datetime, revoked_at: datetime | None = None) -> str:
    return Session.create(user=user_id, token_hash=secrets.token_hex(32), created_at=utcnow(),
                          last_seen_at=utcnow(), expires_at=expires_at,
                          revoked_at=revoked_at, revoke_reason="LOGOUT" if revoked_at
                          else None).id


@db_transaction
def add_oauth_state(*, expires_at: datetime, used_at: datetime | None = None) -> str:
    return OAuthState.create(state_hash=secrets.token_hex(32), provider="GOOGLE",
                             code_verifier="v" * 43, mode="login", client="web",
                             expires_at=expires_at, used_at=used_at).id


@db_transaction
def add_login_failure(created_at: datetime) -> str:
    return LoginFailure.create(email="who@example.com", ip="10.0.0.1", created_at=created_at).id


@db_transaction
def add_notification(user_id: str, *, is_read: bool, created_at: datetime,
                     study_id: str | None = None) -> str:
    return Notification.create(user=user_id, type="NOTICE", message="알림", is_read=is_read,
                               study_id=study_id, created_at=created_at,
                               updated_at=created_at).id


@db_transaction
def make_study(owner_id: str, *, status: str = "ACTIVE",
               deleted_at: datetime | None = None) -> str:
    study = Study.create(owner=owner_id, name="스터디", description="함께 공부하는 스터디입니다.",
                         category="개발", status=status, deleted_at=deleted_at)
    StudyMember.create(study=study.id, user=owner_id, role="OWNER", status="ACTIVE",
                       joined_at=utcnow())
    return study.id


@db_transaction
def add_events(study_id: str, first_seq: int, last_seq: int, created_at: datetime) -> None:
    rows = [{"study": study_id, "seq": seq, "type": "chat:new-message", "payload": {},
             "created_at": created_at} for seq in range(first_seq, last_seq + 1)]
    for start in range(0, len(rows), 500):
        StudyEvent.insert_many(rows[start:start + 500]).execute()
    Study.update(last_seq=last_seq).where(Study.id == study_id).execute()


@db_task
def event_seqs(study_id: str) -> list[int]:
    return [row.seq for row in StudyEvent.select(StudyEvent.seq)
            .where(StudyEvent.study == study_id).order_by(StudyEvent.seq)]


@db_transaction
def add_file(study_id: str, uploader_id: str, storage_key: str) -> str:
    return File.create(study=study_id, uploader=uploader_id, name="a.txt", size=3,
                       type="text/plain", category="DOCUMENT", storage_key=storage_key).id


@db_transaction
def add_download_log(file_id: str, user_id: str, study_id: str, created_at: datetime) -> str:
    return FileDownloadLog.create(file=file_id, user=user_id, study=study_id,
                                  created_at=created_at).id


@db_transaction
def add_task(user_id: str, study_id: str) -> str:
    return Task.create(user=user_id, study=study_id, title="연결된 할 일").id


@db_task
def task_study(task_id: str) -> str | None:
    return Task.get_by_id(task_id).study_id


@db_task
def member_count(study_id: str) -> int:
    return StudyMember.select().where(StudyMember.study == study_id).count()


@db_transaction
def add_invite(user_id: str, *, status: str = "PENDING",
               expires_at: datetime | None) -> str:
    group = Group.create(name=f"그룹 {secrets.token_hex(6)}", created_by=user_id)
    return GroupInvite.create(group=group.id, invited_by=user_id, code=secrets.token_hex(6)
                              .upper(), status=status, expires_at=expires_at).id


@db_task
def invite_status(invite_id: str) -> str:
    return GroupInvite.get_by_id(invite_id).status


# --- accounts ---------------------------------------------------------------------------------


def test_expire_suspensions_reactivates_only_lapsed_temporary_suspensions(
        api: Api, server: LiveServer) -> None:
    admin, lapsed, ongoing, permanent = (api.signup() for _ in range(4))
    now = utcnow()
    sanctions = {}
    for user, until in ((lapsed, now - timedelta(minutes=1)), (ongoing, now + DAY),
                        (permanent, None)):
        server.call(set_user(user.id, status="SUSPENDED", suspended_until=until,
                             suspend_reason="규칙 위반"))
        sanctions[user.id] = server.call(add_sanction(user.id, admin.id, "SUSPENSION", until))
    counts = run(server, "expire-suspensions")
    assert counts["users"] >= 1
    row = server.call(user_row(lapsed.id))
    assert (row["status"], row["suspended_until"], row["suspend_reason"]) == \
        ("ACTIVE", None, None)
    assert server.call(sanction_active(sanctions[lapsed.id])) is False
    for user in (ongoing, permanent):
        assert server.call(user_row(user.id))["status"] == "SUSPENDED"
        assert server.call(sanction_active(sanctions[user.id])) is True
    login = api.anonymous().post("/api/auth/login",
                                 json={"email": lapsed.email, "password": lapsed.password})
    assert login.status_code == 200, login.text


def test_expire_restrictions_deactivates_lapsed_ones_and_rebuilds_the_cache(
        api: Api, server: LiveServer) -> None:
    admin, mixed, lapsed_only, current = (api.signup() for _ in range(4))
    now = utcnow()
    later = (now + 2 * DAY).replace(microsecond=0)
    old = server.call(add_sanction(mixed.id, admin.id, "RESTRICTION", now - timedelta(hours=1),
                                   ["MESSAGE"]))
    kept = server.call(add_sanction(mixed.id, admin.id, "RESTRICTION", later, ["STUDY_JOIN"]))
    server.call(set_user(mixed.id, restricted_actions=["MESSAGE", "STUDY_JOIN"],
                         restricted_until=later))
    gone = server.call(add_sanction(lapsed_only.id, admin.id, "RESTRICTION",
                                    now - timedelta(minutes=1), ["STUDY_CREATE"]))
    server.call(set_user(lapsed_only.id, restricted_actions=["STUDY_CREATE"],
                         restricted_until=now - timedelta(minutes=1)))
    untouched = server.call(add_sanction(current.id, admin.id, "RESTRICTION", later,
                                         ["MESSAGE"]))
    server.call(set_user(current.id, restricted_actions=["MESSAGE"], restricted_until=later))
    counts = run(server, "expire-restrictions")
    assert counts["sanctions"] >= 2 and counts["users"] >= 2
    assert (server.call(sanction_active(old)), server.call(sanction_active(kept)),
            server.call(sanction_active(gone)), server.call(sanction_active(untouched))) == \
        (False, True, False, True)
    row = server.call(user_row(mixed.id))
    assert (row["restricted_actions"], row["restricted_until"]) == (["STUDY_JOIN"], later)
    row = server.call(user_row(lapsed_only.id))
    assert (row["restricted_actions"], row["restricted_until"]) == ([], None)
    row = server.call(user_row(current.id))
    assert (row["restricted_actions"], row["restricted_until"]) == (["MESSAGE"], later)


def test_sessions_cleanup_deletes_sessions_expired_or_revoked_over_30_days_ago(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    now = utcnow()
    doomed = [server.call(add_session(user.id, expires_at=now - 31 * DAY)),
              server.call(add_session(user.id, expires_at=now + DAY,
                                      revoked_at=now - 31 * DAY))]
    kept = [server.call(add_session(user.id, expires_at=now - 29 * DAY)),
            server.call(add_session(user.id, expires_at=now + DAY, revoked_at=now - DAY)),
            server.call(add_session(user.id, expires_at=now + DAY))]
    assert run(server, "sessions-cleanup")["sessions"] >= 2
    assert [server.call(exists("Session", i)) for i in doomed] == [False, False]
    assert [server.call(exists("Session", i)) for i in kept] == [True, True, True]
    assert user.http.get("/api/auth/me").status_code == 200


def test_oauth_states_cleanup_deletes_states_expired_or_used_over_a_day_ago(
        server: LiveServer) -> None:
    now = utcnow()
    doomed = [server.call(add_oauth_state(expires_at=now - 2 * DAY)),
              server.call(add_oauth_state(expires_at=now + DAY, used_at=now - 2 * DAY))]
    kept = [server.call(add_oauth_state(expires_at=now - timedelta(hours=1))),
            server.call(add_oauth_state(expires_at=now + DAY, used_at=now - timedelta(hours=1))),
            server.call(add_oauth_state(expires_at=now + timedelta(minutes=10)))]
    assert run(server, "oauth-states-cleanup")["oauth_states"] >= 2
    assert [server.call(exists("OAuthState", i)) for i in doomed] == [False, False]
    assert [server.call(exists("OAuthState", i)) for i in kept] == [True, True, True]


def test_login_failures_cleanup_keeps_the_lockout_window(server: LiveServer) -> None:
    now = utcnow()
    old = server.call(add_login_failure(now - timedelta(minutes=16)))
    recent = server.call(add_login_failure(now - timedelta(minutes=5)))
    assert run(server, "login-failures-cleanup")["login_failures"] >= 1
    assert (server.call(exists("LoginFailure", old)),
            server.call(exists("LoginFailure", recent))) == (False, True)


# --- groups, notifications, logs, events ------------------------------------------------------


def test_expire_group_invites_marks_only_lapsed_pending_invites(api: Api,
                                                                 server: LiveServer) -> None:
    user = api.signup()
    now = utcnow()
    lapsed = server.call(add_invite(user.id, expires_at=now - timedelta(minutes=1)))
    fresh = server.call(add_invite(user.id, expires_at=now + DAY))
    endless = server.call(add_invite(user.id, expires_at=None))
    used = server.call(add_invite(user.id, status="ACCEPTED", expires_at=now - DAY))
    assert run(server, "expire-group-invites")["invites"] >= 1
    assert [server.call(invite_status(i)) for i in (lapsed, fresh, endless, used)] == \
        ["EXPIRED", "PENDING", "PENDING", "ACCEPTED"]


def test_notifications_purge_deletes_read_notifications_over_30_days_old(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    now = utcnow()
    old_read = server.call(add_notification(user.id, is_read=True, created_at=now - 31 * DAY))
    new_read = server.call(add_notification(user.id, is_read=True, created_at=now - 29 * DAY))
    old_unread = server.call(add_notification(user.id, is_read=False,
                                              created_at=now - 90 * DAY))
    assert run(server, "notifications-purge")["notifications"] >= 1
    assert [server.call(exists("Notification", i)) for i in (old_read, new_read, old_unread)] \
        == [False, True, True]


def test_download_logs_purge_deletes_logs_over_a_year_old(api: Api, server: LiveServer) -> None:
    user = api.signup()
    study = server.call(make_study(user.id))
    file_id = server.call(add_file(study, user.id, f"studies/{study}/a.txt"))
    now = utcnow()
    old = server.call(add_download_log(file_id, user.id, study, now - 366 * DAY))
    recent = server.call(add_download_log(file_id, user.id, study, now - 364 * DAY))
    assert run(server, "download-logs-purge")["download_logs"] >= 1
    assert (server.call(exists("FileDownloadLog", old)),
            server.call(exists("FileDownloadLog", recent))) == (False, True)


def test_study_events_trim_keeps_the_retention_window_and_each_studys_latest_1000(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    now = utcnow()
    busy, quiet = server.call(make_study(user.id)), server.call(make_study(user.id))
    server.call(add_events(busy, 1, 1100, now - 40 * DAY))
    server.call(add_events(busy, 1101, 1205, now - DAY))
    server.call(add_events(quiet, 1, 50, now - 400 * DAY))
    assert run(server, "study-events-trim")["events"] >= 205
    assert server.call(event_seqs(busy)) == list(range(206, 1206))
    assert server.call(event_seqs(quiet)) == list(range(1, 51))
    fresh = server.call(make_study(user.id))
    server.call(add_events(fresh, 1, 1200, now - 2 * DAY))
    run(server, "study-events-trim")
    assert len(server.call(event_seqs(fresh))) == 1200  # all inside the retention window


# --- studies purge ----------------------------------------------------------------------------


def _write(path: Path, content: bytes = b"abc") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_studies_purge_hard_deletes_old_deleted_studies_and_their_uploads(
        api: Api, server: LiveServer) -> None:
    owner, member = api.signup(), api.signup()
    uploads = server.settings.upload_dir
    now = utcnow()
    old = server.call(make_study(owner.id, status="DELETED", deleted_at=now - 31 * DAY))
    recent = server.call(make_study(owner.id, status="DELETED", deleted_at=now - 29 * DAY))
    live = server.call(make_study(owner.id))
    file_id = server.call(add_file(old, owner.id, f"studies/{old}/report.pdf"))
    server.call(add_download_log(file_id, member.id, old, now))
    server.call(add_events(old, 1, 30, now - DAY))
    task = server.call(add_task(member.id, old))
    notification = server.call(add_notification(member.id, is_read=False, created_at=now,
                                                study_id=old))
    escape = server.call(add_file(old, owner.id, "../outside-the-uploads.txt"))
    for study in (old, recent, live):
        _write(uploads / "studies" / study / "report.pdf")
    _write(uploads.parent / "outside-the-uploads.txt")
    orphan = uploads / "studies" / new_id()
    _write(orphan / "left-behind.bin")

    counts = run(server, "studies-purge")
    assert counts["studies"] >= 1 and counts["orphan_folders_removed"] >= 1
    assert not server.call(exists("Study", old))
    assert (server.call(member_count(old)), server.call(event_seqs(old))) == (0, [])
    assert not server.call(exists("File", file_id)) and not server.call(exists("File", escape))
    assert server.call(task_study(task)) is None
    assert server.call(exists("Notification", notification))  # not a foreign key: it stays
    assert not (uploads / "studies" / old).exists()
    assert not orphan.exists()
    assert (uploads / "studies" / recent / "report.pdf").exists()
    assert (uploads / "studies" / live / "report.pdf").exists()
    assert (uploads.parent / "outside-the-uploads.txt").exists()
    assert server.call(exists("Study", recent)) and server.call(exists("Study", live))


def test_studies_purge_retries_uploads_it_could_not_remove(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = api.signup()
    uploads = server.settings.upload_dir
    study = server.call(make_study(owner.id, status="DELETED", deleted_at=utcnow() - 40 * DAY))
    key = f"studies/{study}/{new_id()}.txt"
    server.call(add_file(study, owner.id, key))
    # A directory where the file should be: unlinking it fails, as a busy share would.
    _write(uploads / key / "blocker")
    monkeypatch.setattr(jobs_uploads, "remove_folder", lambda folder: False)
    counts = run(server, "studies-purge")
    assert counts["studies"] >= 1 and counts["removals_failed"] >= 2
    assert not server.call(exists("Study", study))
    assert key in (uploads / file_storage.TRASH_LIST).read_text().splitlines()
    monkeypatch.undo()
    shutil.rmtree(uploads / key)
    _write(uploads / key)  # the obstacle has cleared
    counts = run(server, "studies-purge")
    assert counts["retried_removed"] >= 1 and counts["orphan_folders_removed"] >= 1
    assert not (uploads / "studies" / study).exists()
    trash = uploads / file_storage.TRASH_LIST
    assert not trash.exists() or key not in trash.read_text().splitlines()


def test_studies_purge_clears_stale_temporary_uploads(server: LiveServer) -> None:
    uploads = server.settings.upload_dir
    stale, fresh = uploads / "tmp" / f"{new_id()}.part", uploads / "tmp" / f"{new_id()}.part"
    _write(stale)
    _write(fresh)
    old = time_module.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    assert run(server, "studies-purge")["stale_temporaries_removed"] >= 1
    assert (stale.exists(), fresh.exists()) == (False, True)
    fresh.unlink()


# --- the job table, run_job and the scheduler -------------------------------------------------


def test_every_job_of_the_spec_is_listed_with_its_schedule() -> None:
    assert list(JOBS) == [
        "expire-suspensions", "expire-restrictions", "expire-group-invites",
        "sessions-cleanup", "oauth-states-cleanup", "login-failures-cleanup",
        "notifications-purge", "studies-purge", "study-events-trim", "download-logs-purge"]
    assert JOBS["expire-suspensions"].interval_seconds == 60
    assert JOBS["sessions-cleanup"].interval_seconds == 3600
    assert JOBS["notifications-purge"].daily_at == time(4, 0)
    assert all((spec.interval_seconds is None) != (spec.daily_at is None)
               for spec in JOBS.values())


def test_run_job_refuses_an_unknown_name(server: LiveServer) -> None:
    with pytest.raises(KeyError):
        server.call(run_job("no-such-job", server.settings))


def test_daily_jobs_wait_for_their_local_time(server: LiveServer) -> None:
    settings = server.settings  # Asia/Seoul, UTC+9
    before = datetime(2030, 5, 15, 18, 0, tzinfo=UTC)  # 03:00 in Seoul
    assert seconds_until(time(4, 0), before, settings) == 3600
    after = datetime(2030, 5, 15, 19, 30, tzinfo=UTC)  # 04:30 in Seoul
    assert seconds_until(time(4, 0), after, settings) == 23.5 * 3600
    scheduler = JobScheduler(settings)
    daily = JOBS["notifications-purge"]
    assert scheduler.next_delay(daily, first=False) >= jobs.DAILY_RESCHEDULE_SLACK_SECONDS
    minute = JOBS["expire-suspensions"]
    assert scheduler.next_delay(minute, first=True) == 30
    assert scheduler.next_delay(minute, first=False) == 60


class RecordingLock:
    def __init__(self, grant: bool = True) -> None:
        self.grant = grant
        self.calls: list[tuple[str, str]] = []

    async def acquire(self, job: str, ttl_seconds: float) -> bool:
        self.calls.append(("acquire", job))
        return self.grant

    async def release(self, job: str) -> None:
        self.calls.append(("release", job))


def test_scheduler_runs_jobs_under_the_lock_and_survives_failures(server: LiveServer) -> None:
    runs: list[str] = []

    async def counted(settings: Any) -> dict[str, int]:
        runs.append("ok")
        return {"rows": 1}

    async def broken(settings: Any) -> dict[str, int]:
        runs.append("broken")
        raise RuntimeError("job failed")

    table = {"counted": JobSpec("counted", "fast", counted, interval_seconds=0.02),
             "broken": JobSpec("broken", "fast", broken, interval_seconds=0.02)}
    lock = RecordingLock()

    async def scenario(grant: bool) -> None:
        lock.grant = grant
        scheduler = JobScheduler(server.settings, lock, table)
        scheduler.start()
        await asyncio.sleep(0.2)
        await scheduler.stop()

    server.call(scenario(True))
    assert runs.count("ok") >= 3 and runs.count("broken") >= 3
    assert lock.calls.count(("acquire", "broken")) == lock.calls.count(("release", "broken"))
    before, lock.calls = len(runs), []
    server.call(scenario(False))
    assert len(runs) == before
    assert lock.calls and all(call[0] == "acquire" for call in lock.calls)
