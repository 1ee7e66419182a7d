"""The daemon: APScheduler jobs for every schedule, run only while this replica leads.

One :class:`Daemon` holds a ``BackgroundScheduler`` (``coalesce``, ``max_instances=1``,
``misfire_grace_time``) with a cron job per schedule for backups and, when the schedule has them,
for verify and drills. Every run is recorded (:mod:`drkit.daemon.records`), counted
(:mod:`drkit.daemon.metrics`) and logged with its ``run_id`` and ``schedule``; a failed run is tried
again with exponential backoff (:mod:`drkit.daemon.retry`) and reported to the webhook.

Overlap: APScheduler never starts a second instance of a job while one runs (counted as skipped
with reason ``overlap``); a retry and the regular job of the same schedule and kind exclude each other
too, and backups and verifies of the same repository take turns (a verify never reads while a
prune deletes).

Leadership: without election the daemon leads from the start. With a :class:`LeaderElector` the
scheduler starts paused and runs only while this replica holds the Lease; losing it pauses the
scheduler at once (a run already going finishes; its prune is skipped if leadership is gone).

Shutdown (:meth:`Daemon.shutdown`): no new runs; the running ones get a grace period; a run still
going after it is recorded as failed ("cut off by shutdown"): a backup cut off leaves a valid
repository (the manifest is written last) and no snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger

from drkit.config.schedule import Schedule, cron_trigger
from drkit.daemon import events, jobs, runlines
from drkit.daemon.events import EventSink
from drkit.daemon.leader import LeaderElector
from drkit.daemon.metrics import Metrics
from drkit.daemon.records import Job, Result, RunEnd, RunLog, RunStart, new_run_id
from drkit.daemon.retry import RetryPolicy, describe, permanent
from drkit.daemon.runcontext import run_context
from drkit.daemon.webhook import Webhook
from drkit.deadline import Deadline

log = logging.getLogger("drkit.daemon")

CUT_OFF = "cut off by shutdown after the grace period"


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path
    identity: str = "drkit"
    grace_period: float = 30.0
    misfire_grace: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    workers: int = 8


Triggers = Callable[[str, Schedule, bool], BaseTrigger]
"""How one of a schedule's cron expressions becomes an APScheduler trigger: ``(cron, schedule,
jitter)``, ``jitter`` True when the schedule's jitter applies (backups)."""


def cron_triggers(cron: str, schedule: Schedule, jitter: bool) -> BaseTrigger:
    """The schedule's cron expression in its timezone, with its jitter for backups."""
    return cron_trigger(cron, schedule.timezone, schedule.jitter if jitter else None)


@dataclass
class _Running:
    run: RunStart
    thread: threading.Thread


class Daemon:
    def __init__(
        self,
        schedules: list[Schedule],
        settings: DaemonSettings,
        *,
        metrics: Metrics | None = None,
        webhook: Webhook | None = None,
        drill_runner: jobs.DrillRunner | None = None,
        events: EventSink | None = None,
        triggers: Triggers = cron_triggers,
    ) -> None:
        """``triggers`` turns the schedules' cron expressions into triggers (tests give one that fires
        every few seconds: cron has no seconds field)."""
        self.schedules = {s.name: s for s in schedules}
        self.settings = settings
        self._triggers = triggers
        self.metrics = metrics or Metrics()
        self.webhook = webhook
        self.events = events
        self._last_result: dict[tuple[str, Job], str | None] = {}
        self.drill_runner = drill_runner if drill_runner is not None else jobs.find_drill_runner()
        self.runs = RunLog(settings.state_dir)
        self.elector: LeaderElector | None = None
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max(2, settings.workers))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(settings.misfire_grace)),
            },
        )
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running: dict[str, _Running] = {}
        self._job_locks: dict[tuple[str, Job], threading.Lock] = {}
        self._repo_locks: dict[str, threading.Lock] = {}
        self._leading = False
        self._stopping = False
        self._started = False
        self.metrics.schedules.set(len(self.schedules))
        self.metrics.leader.labels(settings.identity).set(0)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, elector: LeaderElector | None = None) -> None:
        """Recover interrupted runs, add the jobs and start: leading at once without ``elector``,
        else when it wins the Lease (its callbacks must be :meth:`start_leading`/:meth:`stop_leading`)."""
        for schedule in self.schedules.values():
            self._add_jobs(schedule)
        self._scheduler.start(paused=True)
        self._recover()
        self._started = True
        if elector is None:
            self.start_leading()
        else:
            self.elector = elector
            elector.start()

    @property
    def ready(self) -> bool:
        """Schedules loaded and the scheduler running (as leader or standby)."""
        return self._started and not self._stopping

    @property
    def leading(self) -> bool:
        return self._leading

    def start_leading(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._leading = True
        self.metrics.leader.labels(self.settings.identity).set(1)
        log.info("leading: running %d schedules", len(self.schedules))
        self._forget_stale_times()
        self._scheduler.resume()

    def _forget_stale_times(self) -> None:
        """Before leading: a run due while this replica stood by runs now only if it is still within
        the misfire grace (the old leader died at its time); older ones are not "missed" by this one,
        so they move on to their next time. Retries keep their time."""
        now = datetime.now(UTC)
        oldest = now - timedelta(seconds=self.settings.misfire_grace)
        for job in self._scheduler.get_jobs():
            due = job.next_run_time
            if due is not None and due < oldest and not isinstance(job.trigger, DateTrigger):
                job.modify(next_run_time=job.trigger.get_next_fire_time(None, now))

    def stop_leading(self) -> None:
        with self._lock:
            self._leading = False
        self.metrics.leader.labels(self.settings.identity).set(0)
        if self._scheduler.running:
            self._scheduler.pause()
        log.info("standing by: schedules paused (a run already going finishes)")

    def shutdown(self, grace_period: float | None = None) -> list[RunEnd]:
        """Take no new runs, wait up to the grace period for the running ones, record the ones still
        going as failed, release the Lease. Returns the runs cut off (their threads still run)."""
        grace = self.settings.grace_period if grace_period is None else grace_period
        with self._lock:
            self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = Deadline(grace)
        with self._idle:
            if self._running:
                log.info("shutting down: waiting up to %.0fs for %d running jobs", grace, len(self._running))
            while self._running and not deadline.expired():
                self._idle.wait(min(1.0, deadline.remaining()))
            leftover = list(self._running.values())
            self._running.clear()
        cut: list[RunEnd] = []
        for item in leftover:
            end = RunEnd(item.run, datetime.now(UTC), Result.FAILED, error=CUT_OFF)
            self.runs.finished(end)
            self._count(item.run, Result.FAILED)
            log.warning(
                "%s %s cut off by shutdown",
                item.run.job.value,
                item.run.run_id,
                extra={"run_id": item.run.run_id, "schedule": item.run.schedule},
            )
            cut.append(end)
        if self.elector is not None:
            self.elector.stop(release=True)
        self._leading = False
        self.metrics.leader.labels(self.settings.identity).set(0)
        return cut

    # -- jobs -------------------------------------------------------------------------------------

    def _add_jobs(self, schedule: Schedule) -> None:
        name = schedule.name
        self._scheduler.add_job(
            self._execute,
            self._triggers(schedule.cron, schedule, True),
            args=[name, Job.BACKUP, 1],
            id=f"{name}:{Job.BACKUP.value}",
            name=f"{name}:{Job.BACKUP.value}",
        )
        if schedule.verify is not None:
            self._scheduler.add_job(
                self._execute,
                self._triggers(schedule.verify.cron, schedule, False),
                args=[name, Job.VERIFY, 1],
                id=f"{name}:{Job.VERIFY.value}",
                name=f"{name}:{Job.VERIFY.value}",
            )
        if schedule.drill is not None:
            self._scheduler.add_job(
                self._execute,
                self._triggers(schedule.drill.cron, schedule, False),
                args=[name, Job.DRILL, 1],
                id=f"{name}:{Job.DRILL.value}",
                name=f"{name}:{Job.DRILL.value}",
            )

    def _on_skipped(self, event: JobEvent) -> None:
        schedule, _, job = str(event.job_id).partition(":")
        job = job.split(":", 1)[0]
        reason = "overlap" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        self.metrics.skipped.labels(schedule, job, reason).inc()
        log.warning(
            "%s run of %s not started: %s",
            job,
            schedule,
            "the previous run is still going" if reason == "overlap" else "it missed its time",
            extra={"schedule": schedule},
        )

    def _recover(self) -> None:
        for end in self.runs.recover():
            run = end.run
            log.warning(
                "%s run %s of %s was interrupted by a crash/restart: recorded as failed",
                run.job.value,
                run.run_id,
                run.schedule,
                extra={"run_id": run.run_id, "schedule": run.schedule},
            )
            self._count(run, Result.FAILED)
            retry_at = self._schedule_retry(run) if self._has_job(run.schedule, run.job) else None
            self._report(end, final=retry_at is None)
            self._event(end, retry_at)

    def _has_job(self, name: str, job: Job) -> bool:
        """The schedule still exists and still has this kind of job (the files may have changed)."""
        schedule = self.schedules.get(name)
        if schedule is None:
            return False
        if job is Job.VERIFY:
            return schedule.verify is not None
        if job is Job.DRILL:
            return schedule.drill is not None
        return True

    def _schedule_retry(self, run: RunStart) -> datetime | None:
        """Schedule the next attempt of ``run``; returns when it runs (None: no attempt left)."""
        delay = self.settings.retry.next_delay(run.attempt)
        if delay is None:
            return None
        when = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(
            self._execute,
            "date",
            run_date=when,
            args=[run.schedule, run.job, run.attempt + 1],
            id=f"{run.schedule}:{run.job.value}:retry",
            name=f"{run.schedule}:{run.job.value}:retry",
            replace_existing=True,
            misfire_grace_time=None,
        )
        self.metrics.backup_retries.labels(run.schedule, run.job.value).inc()
        log.warning(
            "%s of %s: retrying, attempt %d in %.0fs",
            run.job.value,
            run.schedule,
            run.attempt + 1,
            delay,
            extra={
                "run_id": run.run_id,
                "schedule": run.schedule,
                "job": run.job.value,
                "attempt": run.attempt + 1,
                "retry_at": runlines.iso(when),
            },
        )
        return when

    @contextmanager
    def _exclusive(self, key: tuple[str, Job], repo_url: str) -> Iterator[bool]:
        with self._lock:
            job_lock = self._job_locks.setdefault(key, threading.Lock())
            repo_lock = self._repo_locks.setdefault(repo_url, threading.Lock())
        if not job_lock.acquire(blocking=False):
            yield False
            return
        try:
            with repo_lock:
                yield True
        finally:
            job_lock.release()

    def _execute(self, name: str, job: Job, attempt: int) -> None:
        schedule = self.schedules[name]
        with self._lock:
            if self._stopping or not self._leading:
                return
        # drills restore elsewhere and only read: they do not hold up the repository's backups
        repo_key = f"{job.value}:{schedule.repository.url}" if job is Job.DRILL else schedule.repository.url
        if attempt == 1:  # a regular run supersedes a retry still pending from an earlier one
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(f"{name}:{job.value}:retry")
        with self._exclusive((name, job), repo_key) as mine:
            if not mine:
                self.metrics.skipped.labels(name, job.value, "overlap").inc()
                log.warning("%s of %s not started: another run is going", job.value, name)
                return
            self._run(schedule, job, attempt)

    def _run(self, schedule: Schedule, job: Job, attempt: int) -> None:
        run = RunStart(new_run_id(), schedule.name, job, attempt, datetime.now(UTC))
        with self._lock:
            if self._stopping:
                return
            self._running[run.run_id] = _Running(run, threading.current_thread())
        self.runs.started(run)
        started = time.monotonic()
        with run_context(run.run_id, run.schedule, job.value):
            message, extra = runlines.start_line(job.value, schedule.name, run.run_id, attempt)
            log.info("%s", message, extra=extra)
            error: BaseException | None = None
            try:
                outcome = self._work(schedule, job)
            except Exception as exc:  # every failure is recorded, counted and maybe retried
                error = exc
                outcome = jobs.Outcome(ok=False, error=describe(exc))
                log.debug("traceback", exc_info=True, extra={"run_id": run.run_id})
        duration = time.monotonic() - started
        result = _result_of(outcome)
        end = RunEnd(
            run,
            datetime.now(UTC),
            result,
            error=outcome.skipped or outcome.error,
            snapshot_id=outcome.snapshot_id,
            details=outcome.details,
        )
        with self._idle:  # recorded before shutdown may see it gone; unless shutdown recorded it already
            mine = run.run_id in self._running
            if mine:
                self.runs.finished(end)
                del self._running[run.run_id]
            self._idle.notify_all()
        if not mine:
            return
        self._count(run, result, duration=duration, details=outcome.details)
        jobs.audit_run(schedule, end)
        retry_at: datetime | None = None
        hint = runlines.hint_of(error)
        if result is Result.FAILED:
            retry_at = self._failed(end, error)
            if retry_at is None and error is not None and permanent(error):
                hint = hint or "not retried: the error needs an operator"
        message, extra = runlines.finish_line(
            job.value,
            schedule.name,
            run.run_id,
            attempt=attempt,
            outcome=result.value,
            duration_s=duration,
            snapshot_id=outcome.snapshot_id,
            details=outcome.details,
            error=end.error,
            hint=hint,
            next_run=self._next_run(schedule.name, job, retry_at),
        )
        level = {Result.SUCCESS: logging.INFO, Result.FAILED: logging.ERROR}.get(result, logging.WARNING)
        log.log(level, "%s", message, extra=extra)
        self._event(end, retry_at)

    def _previous_result(self, name: str, job: Job) -> str | None:
        """The result of this schedule's job before the run that just ended (from the records once,
        then remembered)."""
        key = (name, job)
        if key not in self._last_result:
            runs = self.runs.finished_runs(name, job)
            self._last_result[key] = str(runs[-2]["result"]) if len(runs) >= 2 else None
        return self._last_result[key]

    def _event(self, end: RunEnd, retry_at: datetime | None) -> None:
        """A Kubernetes Event for a failed or partial run, and for the first success after one."""
        run = end.run
        previous = self._previous_result(run.schedule, run.job)
        self._last_result[(run.schedule, run.job)] = end.result.value
        if self.events is None:
            return
        what = f"{run.job.value} of {run.schedule}"
        if end.result is Result.FAILED:
            then = f"retry at {runlines.iso(retry_at)}" if retry_at is not None else "not retried"
            message = f"{what} failed (attempt {run.attempt}, run {run.run_id}; {then}): {end.error}"
            self.events.emit(events.WARNING, events.failed_reason(run.job.value), message)
        elif end.result is Result.PARTIAL:
            message = (
                f"{what}: snapshot {(end.snapshot_id or '')[:8]} is partial (run {run.run_id}): {end.error}"
            )
            self.events.emit(events.WARNING, "BackupPartial", message)
        elif end.result is Result.SUCCESS and previous in (Result.FAILED.value, Result.PARTIAL.value):
            message = f"{what} succeeded after a {previous} run (run {run.run_id})"
            if run.job is Job.DRILL and "rto_seconds" in end.details:
                message += f", RTO {float(end.details['rto_seconds']):.1f}s"
            self.events.emit(events.NORMAL, events.recovered_reason(run.job.value), message)

    def next_backup(self, name: str) -> datetime | None:
        """When the schedule's next backup runs (its retry when one is pending); None when unknown."""
        retry: datetime | None = None
        with contextlib.suppress(Exception):
            pending = self._scheduler.get_job(f"{name}:{Job.BACKUP.value}:retry")
            retry = pending.next_run_time if pending is not None else None
        return self._next_run(name, Job.BACKUP, retry)

    def _next_run(self, name: str, job: Job, retry_at: datetime | None) -> datetime | None:
        """When this schedule's job runs next: its retry, else its regular time (None when stopping)."""
        if self._stopping:
            return None
        try:
            regular = self._scheduler.get_job(f"{name}:{job.value}")
        except Exception:  # noqa: BLE001 - a scheduler shut down under us has no next run
            return None
        due = regular.next_run_time if regular is not None else None
        if retry_at is not None and (due is None or retry_at < due):
            return retry_at
        return due

    def _failed(self, end: RunEnd, error: BaseException | None) -> datetime | None:
        """A run that could not complete (it raised) is retried unless the error is permanent; one that
        completed with a negative answer (verify found problems, a drill failed) is final. Returns when
        the retry runs (None: no retry)."""
        retry_at: datetime | None = None
        if error is not None and not permanent(error) and not self._stopping:
            retry_at = self._schedule_retry(end.run)
        self._report(end, final=retry_at is None)
        return retry_at

    def _work(self, schedule: Schedule, job: Job) -> jobs.Outcome:
        if job is Job.BACKUP:
            return self._backup(schedule)
        if job is Job.VERIFY:
            return jobs.verify_outcome(jobs.verify(schedule))
        return self._drill(schedule)

    def _backup(self, schedule: Schedule) -> jobs.Outcome:
        extra = {"schedule": schedule.name}

        def notify(message: str) -> None:
            log.info("%s", message, extra=extra)

        result, repo = jobs.backup(schedule, notify=notify)
        outcome = jobs.backup_outcome(result)
        details = dict(outcome.details)
        details["lock"] = jobs.lock_details(repo)
        if self._leading and not self._stopping:
            try:
                pruned = jobs.prune(schedule, repo)
            except Exception as exc:  # noqa: BLE001 - the backup stands; the prune failure is reported
                self.metrics.prune_total.labels(schedule.name, "failed").inc()
                details["prune_error"] = describe(exc)
                log.error("prune of %s failed: %s", schedule.name, describe(exc), extra=extra)  # noqa: TRY400
                if self.events is not None:
                    self.events.emit(
                        events.WARNING, "PruneFailed", f"prune of {schedule.name} failed: {describe(exc)}"
                    )
            else:
                if pruned is not None:
                    self.metrics.prune_total.labels(schedule.name, "success").inc()
                    self.metrics.prune_locked.labels(schedule.name).set(len(pruned.locked))
                    details["prune"] = jobs.prune_details(pruned)
        else:
            details["prune"] = "skipped: no longer leading"
        return jobs.Outcome(
            ok=outcome.ok, snapshot_id=outcome.snapshot_id, error=outcome.error, details=details
        )

    def _drill(self, schedule: Schedule) -> jobs.Outcome:
        assert schedule.drill is not None
        if self.drill_runner is None:
            return jobs.Outcome(ok=False, skipped=jobs.DRILL_NOT_AVAILABLE)
        result = self.drill_runner(schedule, schedule.drill.plan)
        details = dict(result.details)
        if result.rto_seconds is not None:
            details["rto_seconds"] = result.rto_seconds
        return jobs.Outcome(ok=result.ok, error=result.error, details=details)

    # -- metrics and reports ----------------------------------------------------------------------

    def _count(
        self,
        run: RunStart,
        result: Result,
        *,
        duration: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        m = self.metrics
        name = run.schedule
        now = time.time()
        details = details or {}
        if run.job is Job.BACKUP:
            m.backup_total.labels(name, result.value).inc()
            if duration is not None:
                m.backup_duration.labels(name).observe(duration)
            if result is Result.SUCCESS:
                m.backup_last_success.labels(name).set(now)
            if "new_bytes" in details:
                m.backup_bytes.labels(name, "new").set(details["new_bytes"])
                m.backup_bytes.labels(name, "total").set(details["bytes"])
        elif run.job is Job.VERIFY:
            m.verify_total.labels(name, result.value).inc()
            if result is Result.SUCCESS:
                m.verify_last_success.labels(name).set(now)
        else:
            m.drill_total.labels(name, result.value).inc()
            if result is Result.SUCCESS:
                m.drill_last_success.labels(name).set(now)
            if "rto_seconds" in details:
                m.drill_rto.labels(name).set(float(details["rto_seconds"]))

    def _report(self, end: RunEnd, *, final: bool) -> None:
        if self.webhook is None:
            return
        payload = end.to_record()
        payload["event"] = "run_failed"
        payload["final"] = final
        payload["identity"] = self.settings.identity
        payload.pop("details", None)
        hook = self.webhook
        threading.Thread(target=hook.send, args=(payload,), name="drkit-webhook", daemon=True).start()


def _result_of(outcome: jobs.Outcome) -> Result:
    if outcome.skipped:
        return Result.SKIPPED
    if outcome.ok:
        return Result.SUCCESS
    if outcome.snapshot_id is not None:
        return Result.PARTIAL
    return Result.FAILED
