"""Background jobs (COUP.md §12): what each does, when it runs, and the scheduler of `coup serve`.

`JOBS` lists every job; `run_job(name, settings)` runs one now and returns its counts (the CLI's
`coup jobs run <name>`); `JobScheduler` runs each on its schedule inside a node. Jobs are
idempotent, so running one twice, or by hand between scheduled runs, is harmless.

Only one node runs a given job at a time: the scheduler takes `JobLock` around each run. The
single-node lock always grants it; a Redis lock (when COUP_REDIS_URL is set) implements the
same two methods.

Deletions go in batches of `DELETE_BATCH_ROWS`, each its own statement and call, so a large
purge never holds one long transaction, and (on SQLite's single database worker) requests
keep being served between batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from time import perf_counter
from typing import Protocol

import peewee

from coup.config import Settings
from coup.file_storage import retry_pending_deletions, sweep_stale_temporaries
from coup.jobs_uploads import remove_study_uploads, sweep_orphan_study_folders
from coup.store import accounts
from coup.store.db import db_task, db_transaction
from coup.store.fields import utcnow
from coup.store.group_members import expire_invites_now
from coup.store.models import (
    BaseModel,
    File,
    FileDownloadLog,
    LoginFailure,
    Notification,
    OAuthState,
    Sanction,
    Session,
    Study,
    StudyEvent,
    User,
)
from coup.store.system_settings import load_effective_settings

log = logging.getLogger(__name__)

DELETE_BATCH_ROWS = 5000
SESSION_KEEP = timedelta(days=30)  # after expiry or revocation
OAUTH_STATE_KEEP = timedelta(days=1)  # after expiry or use
READ_NOTIFICATION_KEEP = timedelta(days=30)
DELETED_STUDY_KEEP = timedelta(days=30)
DOWNLOAD_LOG_KEEP = timedelta(days=365)
# PROTOCOL §4 recovery: the newest events of every study stay, however old they are.
STUDY_EVENTS_ALWAYS_KEPT = 1000
# Interval jobs first run this long after start, so a starting node settles first.
FIRST_RUN_DELAY_SECONDS = 30.0
# After a daily run the next one is aimed at least this far ahead (see next_delay).
DAILY_RESCHEDULE_SLACK_SECONDS = 60.0
# A node that dies mid-run frees the (Redis) lock after this long at most.
LOCK_TTL_SECONDS = 3600.0

JobCounts = dict[str, int]


@dataclass(frozen=True)
class JobSpec:
    """One job: every `interval_seconds`, or daily at `daily_at` (local, `settings.tz`)."""

    name: str
    schedule: str  # for people: "every minute", "daily 04:00 local", ...
    run: Callable[[Settings], Awaitable[JobCounts]]
    interval_seconds: float | None = None
    daily_at: time | None = None


# --- deletion in batches ----------------------------------------------------------------------


@db_task
def _delete_batch(model: type[BaseModel], doomed: peewee.Select) -> int:
    return model.delete().where(model.id.in_(doomed.limit(DELETE_BATCH_ROWS))).execute()


async def _delete_all(model: type[BaseModel], doomed: peewee.Select) -> int:
    """Delete the rows whose ids `doomed` selects, a batch at a time; returns how many."""
    total = 0
    while True:
        deleted = await _delete_batch(model, doomed)
        total += deleted
        if deleted < DELETE_BATCH_ROWS:
            return total


# --- accounts ---------------------------------------------------------------------------------


@db_task
def _lapsed_suspension_user_ids(now: datetime) -> list[str]:
    return [row.id for row in User.select(User.id).where(
        (User.status == "SUSPENDED") & User.suspended_until.is_null(False)
        & (User.suspended_until <= now))]


async def expire_suspensions(settings: Settings) -> JobCounts:
    """SUSPENDED users past `suspended_until` → ACTIVE; their SUSPENSION sanctions inactive
    (the same step login takes, so both paths behave alike)."""
    lifted = 0
    for user_id in await _lapsed_suspension_user_ids(utcnow()):
        user = await accounts.lift_expired_suspension(user_id)
        lifted += user.status == "ACTIVE"
    return {"users": lifted}


@db_task
def _lapsed_restrictions(now: datetime) -> tuple[int, list[str]]:
    """Lapsed RESTRICTION sanctions still active, and the users whose cache needs a rebuild
    (theirs, plus any whose cached `restricted_until` has passed)."""
    lapsed = list(Sanction.select(Sanction.user).where(
        (Sanction.type == "RESTRICTION") & Sanction.is_active
        & Sanction.expires_at.is_null(False) & (Sanction.expires_at <= now)))
    stale = User.select(User.id).where(User.restricted_until.is_null(False)
                                       & (User.restricted_until <= now))
    return len(lapsed), sorted({row.user_id for row in lapsed} | {row.id for row in stale})


@db_transaction
def _rebuild_restrictions(user_id: str) -> None:
    accounts.clear_expired_restrictions_now(user_id)


async def expire_restrictions(settings: Settings) -> JobCounts:
    """RESTRICTION sanctions past `expires_at` → inactive; the users' restriction cache is
    recomputed by the function login uses."""
    sanctions, user_ids = await _lapsed_restrictions(utcnow())
    for user_id in user_ids:
        await _rebuild_restrictions(user_id)
    return {"sanctions": sanctions, "users": len(user_ids)}


async def sessions_cleanup(settings: Settings) -> JobCounts:
    cutoff = utcnow() - SESSION_KEEP
    doomed = Session.select(Session.id).where(
        (Session.expires_at < cutoff) | (Session.revoked_at < cutoff))
    return {"sessions": await _delete_all(Session, doomed)}


async def oauth_states_cleanup(settings: Settings) -> JobCounts:
    cutoff = utcnow() - OAUTH_STATE_KEEP
    doomed = OAuthState.select(OAuthState.id).where(
        (OAuthState.expires_at < cutoff) | (OAuthState.used_at < cutoff))
    return {"oauth_states": await _delete_all(OAuthState, doomed)}


async def login_failures_cleanup(settings: Settings) -> JobCounts:
    """Failures older than the lockout window (`login_lockout_minutes`) no longer count."""
    minutes = int((await load_effective_settings())["login_lockout_minutes"])
    doomed = LoginFailure.select(LoginFailure.id).where(
        LoginFailure.created_at < utcnow() - timedelta(minutes=minutes))
    return {"login_failures": await _delete_all(LoginFailure, doomed)}


# --- groups, notifications, logs, events ------------------------------------------------------


@db_transaction
def _expire_group_invites(now: datetime) -> int:
    return expire_invites_now(now)


async def expire_group_invites(settings: Settings) -> JobCounts:
    return {"invites": await _expire_group_invites(utcnow())}


async def notifications_purge(settings: Settings) -> JobCounts:
    doomed = Notification.select(Notification.id).where(
        Notification.is_read & (Notification.created_at < utcnow() - READ_NOTIFICATION_KEEP))
    return {"notifications": await _delete_all(Notification, doomed)}


async def download_logs_purge(settings: Settings) -> JobCounts:
    doomed = FileDownloadLog.select(FileDownloadLog.id).where(
        FileDownloadLog.created_at < utcnow() - DOWNLOAD_LOG_KEEP)
    return {"download_logs": await _delete_all(FileDownloadLog, doomed)}


async def study_events_trim(settings: Settings) -> JobCounts:
    """Events older than the retention, except each study's latest 1,000. Seqs are gap-free
    up to `last_seq`, so the latest 1,000 are exactly those above `last_seq - 1000`."""
    cutoff = utcnow() - timedelta(days=settings.event_retention_days)
    doomed = (StudyEvent.select(StudyEvent.id)
              .join(Study, on=(StudyEvent.study == Study.id))
              .where((StudyEvent.created_at < cutoff)
                     & (StudyEvent.seq <= Study.last_seq - STUDY_EVENTS_ALWAYS_KEPT)))
    return {"events": await _delete_all(StudyEvent, doomed)}


# --- studies purge ----------------------------------------------------------------------------


@db_task
def _purgeable_study_ids(cutoff: datetime) -> list[str]:
    return [row.id for row in Study.select(Study.id).where(
        (Study.status == "DELETED") & (Study.deleted_at < cutoff)).order_by(Study.deleted_at)]


@db_transaction
def _hard_delete_study(study_id: str, cutoff: datetime) -> list[str] | None:
    """Delete the study row (its rows cascade); returns its files' storage keys, or None when
    it is no longer due (restored, or purged by another run)."""
    still_due = Study.select(Study.id).where(
        (Study.id == study_id) & (Study.status == "DELETED") & (Study.deleted_at < cutoff))
    if not still_due.exists():
        return None
    keys = [row.storage_key for row in File.select(File.storage_key).where(File.study == study_id)]
    Study.delete().where(Study.id == study_id).execute()
    return keys


async def studies_purge(settings: Settings) -> JobCounts:
    """Hard-delete studies DELETED more than 30 days ago (their rows cascade; notifications,
    which are not foreign keys, stay), then remove their uploads. Removals that failed before
    are retried first, and temporary uploads a crash left behind are cleared as well."""
    upload_dir = settings.upload_dir
    retried, still_failing = await asyncio.to_thread(retry_pending_deletions, upload_dir)
    stale = await asyncio.to_thread(sweep_stale_temporaries, upload_dir)
    cutoff = utcnow() - DELETED_STUDY_KEEP
    purged = removed = failed = 0
    for study_id in await _purgeable_study_ids(cutoff):
        # The event log is the bulk of a study's rows: trim it in batches before the cascade.
        await _delete_all(StudyEvent, StudyEvent.select(StudyEvent.id)
                          .where(StudyEvent.study == study_id))
        keys = await _hard_delete_study(study_id, cutoff)
        if keys is None:
            continue
        purged += 1
        done, failing = await asyncio.to_thread(remove_study_uploads, upload_dir, study_id,
                                                keys)
        removed, failed = removed + done, failed + failing
    swept = await sweep_orphan_study_folders(upload_dir)
    return {"studies": purged, "files_removed": removed, "removals_failed": failed,
            "retried_removed": retried, "retried_failing": still_failing,
            "orphan_folders_removed": swept, "stale_temporaries_removed": stale}


# --- the job table ----------------------------------------------------------------------------

MINUTE_SECONDS = 60.0
HOUR_SECONDS = 3600.0

JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("expire-suspensions", "every minute", expire_suspensions,
            interval_seconds=MINUTE_SECONDS),
    JobSpec("expire-restrictions", "every minute", expire_restrictions,
            interval_seconds=MINUTE_SECONDS),
    JobSpec("expire-group-invites", "hourly", expire_group_invites,
            interval_seconds=HOUR_SECONDS),
    JobSpec("sessions-cleanup", "hourly", sessions_cleanup, interval_seconds=HOUR_SECONDS),
    JobSpec("oauth-states-cleanup", "hourly", oauth_states_cleanup,
            interval_seconds=HOUR_SECONDS),
    JobSpec("login-failures-cleanup", "hourly", login_failures_cleanup,
            interval_seconds=HOUR_SECONDS),
    # The daily jobs run in the quiet early hours, a quarter of an hour apart.
    JobSpec("notifications-purge", "daily 04:00 local", notifications_purge,
            daily_at=time(4, 0)),
    JobSpec("studies-purge", "daily 04:15 local", studies_purge, daily_at=time(4, 15)),
    JobSpec("study-events-trim", "daily 04:30 local", study_events_trim, daily_at=time(4, 30)),
    JobSpec("download-logs-purge", "daily 04:45 local", download_logs_purge,
            daily_at=time(4, 45)),
)}


async def run_job(name: str, node_settings: Settings) -> JobCounts:
    """Run one job now (KeyError for an unknown name); logs and returns its counts."""
    return await _run_logged(JOBS[name], node_settings)


async def _run_logged(spec: JobSpec, settings: Settings) -> JobCounts:
    started = perf_counter()
    counts = await spec.run(settings)
    log.info("job %s finished in %.0f ms: %s", spec.name, 1000 * (perf_counter() - started),
             ", ".join(f"{key}={value}" for key, value in counts.items()))
    return counts


# --- the scheduler ----------------------------------------------------------------------------


class JobLock(Protocol):
    """Who may run a job now: one node at a time, cluster-wide."""

    async def acquire(self, job: str, ttl_seconds: float) -> bool:
        """True when this node may run `job`; the claim lapses after `ttl_seconds`."""
        ...

    async def release(self, job: str) -> None:
        """Give the claim up after the run."""
        ...


class LocalJobLock:
    """The single-node lock: this node is the only one, so it may always run a job."""

    async def acquire(self, job: str, ttl_seconds: float) -> bool:
        return True

    async def release(self, job: str) -> None:
        return None


def seconds_until(daily_at: time, now: datetime, settings: Settings) -> float:
    """Seconds from `now` (aware UTC) to the next local `daily_at` in the platform zone."""
    local_now = now.astimezone(settings.tz)
    target = datetime.combine(local_now.date(), daily_at, tzinfo=settings.tz)
    if target <= local_now:
        target = datetime.combine(local_now.date() + timedelta(days=1), daily_at,
                                  tzinfo=settings.tz)
    return max(0.0, (target - now).total_seconds())


class JobScheduler:
    """Runs every job of `JOBS` on its schedule, as one asyncio task per job."""

    def __init__(self, settings: Settings, lock: JobLock | None = None,
                 jobs: dict[str, JobSpec] | None = None) -> None:
        self.settings = settings
        self.lock: JobLock = lock or LocalJobLock()
        self.jobs = jobs if jobs is not None else JOBS
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the job loops (call on the node's running event loop)."""
        for spec in self.jobs.values():
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._loop(spec), name=f"coup-job-{spec.name}"))
        log.info("job scheduler started with %d jobs", len(self._tasks))

    async def stop(self) -> None:
        """Cancel the loops; a run in progress is abandoned (every job is idempotent)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def next_delay(self, spec: JobSpec, *, first: bool) -> float:
        """Seconds to the job's next run; `first` is the run after the node starts."""
        if spec.daily_at is not None:
            # After a run, aim a minute on: a sleep that woke a little early must not find
            # today's run time still ahead and run the job twice.
            slack = 0.0 if first else DAILY_RESCHEDULE_SLACK_SECONDS
            now = datetime.now(UTC) + timedelta(seconds=slack)
            return slack + seconds_until(spec.daily_at, now, self.settings)
        interval = spec.interval_seconds or HOUR_SECONDS
        return min(interval, FIRST_RUN_DELAY_SECONDS) if first else interval

    async def _loop(self, spec: JobSpec) -> None:
        first = True
        while True:
            await asyncio.sleep(self.next_delay(spec, first=first))
            first = False
            await self.run_once(spec)

    async def run_once(self, spec: JobSpec) -> JobCounts | None:
        """One scheduled run under the lock; a failure is logged and the schedule goes on."""
        if not await self.lock.acquire(spec.name, LOCK_TTL_SECONDS):
            log.debug("job %s skipped: another node holds its lock", spec.name)
            return None
        try:
            return await _run_logged(spec, self.settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed; it runs again on its next schedule", spec.name)
            return None
        finally:
            await self.lock.release(spec.name)
