"""Leader election with a ``coordination.k8s.io/v1`` Lease, so that two replicas never run the same
schedules.

The rules are client-go's ``leaderelection`` (with the Lease lock):

- A candidate reads the Lease. None exists: it creates one naming itself (a 409 means another won).
- The holder renews ``renewTime`` every ``retry_period`` with an update that carries the
  ``resourceVersion`` it read (optimistic concurrency: a 409 means someone else wrote in between).
- Another candidate takes the Lease over when its holder is empty (released) or when the record has
  not changed for ``leaseDurationSeconds`` **as observed on the candidate's own monotonic clock**
  (never by comparing ``renewTime`` with the local wall clock: clocks of two machines differ). A
  takeover increments ``leaseTransitions`` and sets ``acquireTime``.
- A holder that could not renew for ``renew_deadline`` (shorter than the lease duration) steps down
  at once, before anyone may take over: at most one replica believes it leads (as long as the
  machines' clocks run at the same rate).
- On a clean shutdown the holder releases the Lease (empty holder) so a standby takes over at once.

:func:`decide` is the pure part; :class:`LeaderElector` does the HTTP calls (through a
:class:`LeaseAPI`, in production :class:`KubeLeaseAPI` over ``KubeClient``) in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from drkit.errors import ConfigError, DrkitError
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeAPIError, KubeNotFound

log = logging.getLogger("drkit.daemon.leader")

GROUP_VERSION = "coordination.k8s.io/v1"


class Conflict(Exception):
    """The Lease changed since it was read (HTTP 409), or was created by another (409 on create)."""


class LeaseAPI(Protocol):
    """Raw Lease objects (dicts as the API server sends them)."""

    def get(self) -> dict[str, Any] | None: ...  # None: no such Lease

    def create(self, lease: dict[str, Any]) -> dict[str, Any]: ...  # Conflict if it exists

    def update(self, lease: dict[str, Any]) -> dict[str, Any]: ...  # Conflict on a stale resourceVersion


class KubeLeaseAPI:
    """One Lease through the raw Kubernetes client."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self._collection = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/leases"

    def get(self) -> dict[str, Any] | None:
        try:
            lease: dict[str, Any] = self.kube.get_json(f"{self._collection}/{self.name}")
        except KubeNotFound:
            return None
        return lease

    def create(self, lease: dict[str, Any]) -> dict[str, Any]:
        try:
            created: dict[str, Any] = self.kube.send_json("POST", self._collection, lease)
        except KubeAPIError as exc:
            if exc.status == 409:
                raise Conflict(str(exc)) from exc
            raise
        return created

    def update(self, lease: dict[str, Any]) -> dict[str, Any]:
        try:
            updated: dict[str, Any] = self.kube.send_json("PUT", f"{self._collection}/{self.name}", lease)
        except KubeAPIError as exc:
            if exc.status == 409:
                raise Conflict(str(exc)) from exc
            raise
        return updated


@dataclass(frozen=True)
class ElectionConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ConfigError("leader election needs an identity", field="identity")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ConfigError(
                "expected 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period:g} < {self.renew_deadline:g} < {self.lease_duration:g}",
                field="lease-duration",
            )

    @classmethod
    def for_duration(cls, namespace: str, name: str, identity: str, lease_duration: float) -> ElectionConfig:
        """client-go's proportions (15 s / 10 s / 2 s) scaled to ``lease_duration``."""
        return cls(
            namespace,
            name,
            identity,
            lease_duration=lease_duration,
            renew_deadline=lease_duration * 2 / 3,
            retry_period=lease_duration * 2 / 15,
        )


# -- the pure part --------------------------------------------------------------------------------


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def holder_of(lease: dict[str, Any] | None) -> str:
    if lease is None:
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _record(lease: dict[str, Any]) -> tuple[str, str, str]:
    """What changes when a holder renews: compared to detect a live holder."""
    spec = lease.get("spec") or {}
    return (
        str(spec.get("holderIdentity") or ""),
        str(spec.get("renewTime") or ""),
        str((lease.get("metadata") or {}).get("resourceVersion") or ""),
    )


class Action(Enum):
    CREATE = "create"  # no Lease: create one naming us
    RENEW = "renew"  # we hold it: renew
    TAKE_OVER = "take over"  # released or expired: take it
    WAIT = "wait"  # another holder is alive


@dataclass(frozen=True)
class Observation:
    """The Lease record last seen, and when (monotonic seconds) it was first seen in that state."""

    record: tuple[str, str, str]
    since: float


def decide(
    lease: dict[str, Any] | None,
    identity: str,
    observed: Observation | None,
    now: float,
    lease_duration: float,
) -> tuple[Action, Observation | None]:
    """What a candidate does about ``lease`` at monotonic time ``now``, and the observation to keep."""
    if lease is None:
        return Action.CREATE, None
    record = _record(lease)
    if observed is None or observed.record != record:
        observed = Observation(record, now)
    holder = record[0]
    if holder == identity:
        return Action.RENEW, observed
    if not holder:
        return Action.TAKE_OVER, observed
    duration = float((lease.get("spec") or {}).get("leaseDurationSeconds") or lease_duration)
    if now - observed.since >= duration:
        return Action.TAKE_OVER, observed
    return Action.WAIT, observed


def new_lease(config: ElectionConfig, now: datetime) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Lease",
        "metadata": {"name": config.name, "namespace": config.namespace},
        "spec": {
            "holderIdentity": config.identity,
            "leaseDurationSeconds": max(1, round(config.lease_duration)),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": 0,
        },
    }


def claimed(
    lease: dict[str, Any], config: ElectionConfig, now: datetime, *, take_over: bool
) -> dict[str, Any]:
    """``lease`` (as read, with its resourceVersion) renewed by us, or taken over by us."""
    spec = dict(lease.get("spec") or {})
    spec["holderIdentity"] = config.identity
    spec["leaseDurationSeconds"] = max(1, round(config.lease_duration))
    spec["renewTime"] = micro_time(now)
    if take_over:
        spec["acquireTime"] = micro_time(now)
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    return {**lease, "spec": spec}


def released(lease: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = dict(lease.get("spec") or {})
    spec["holderIdentity"] = None
    spec["leaseDurationSeconds"] = 1
    spec["renewTime"] = micro_time(now)
    return {**lease, "spec": spec}


# -- the loop -------------------------------------------------------------------------------------


class LeaderElector:
    """Runs the election in a thread; calls ``on_started`` / ``on_stopped`` on leadership changes
    (from that thread). ``is_leader`` is safe to read from anywhere."""

    def __init__(
        self,
        api: LeaseAPI,
        config: ElectionConfig,
        *,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.config = config
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._clock = clock
        self._wall = wall
        self._observed: Observation | None = None
        self._lease: dict[str, Any] | None = None
        self._leader = False
        self._last_renew = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drkit-leader", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self._leader

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, release: bool = True, timeout: float = 5.0) -> None:
        """Stop campaigning; a leader steps down and (``release``) empties the Lease's holder."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._leader:
            self._set_leader(False)
            if release:
                self._release()

    def step(self) -> None:
        """One round: read, decide, write. Public for tests."""
        now = self._clock()
        try:
            lease = self.api.get()
            action, self._observed = decide(
                lease, self.config.identity, self._observed, now, self.config.lease_duration
            )
            if action is Action.CREATE:
                self._lease = self.api.create(new_lease(self.config, self._wall()))
            elif action in (Action.RENEW, Action.TAKE_OVER):
                assert lease is not None
                self._lease = self.api.update(
                    claimed(lease, self.config, self._wall(), take_over=action is Action.TAKE_OVER)
                )
            else:
                if self._leader:  # someone else holds it now: we lost it
                    log.warning("the lease is held by %s now", holder_of(lease))
                    self._set_leader(False)
                return
        except Conflict:
            log.info("lease update lost a race; reading it again")
            self._check_deadline(now)
            return
        except (DrkitError, OSError) as exc:
            log.warning("lease %s/%s: %s", self.config.namespace, self.config.name, exc)
            self._check_deadline(now)
            return
        self._last_renew = now
        if not self._leader:
            if action is Action.TAKE_OVER:
                log.info("took over the lease from %r", holder_of(lease) or "nobody")
            self._set_leader(True)

    def _check_deadline(self, now: float) -> None:
        if self._leader and now - self._last_renew >= self.config.renew_deadline:
            log.warning("could not renew the lease for %.1fs: stepping down", now - self._last_renew)
            self._set_leader(False)

    def _set_leader(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        log.info(
            "%s leading (identity %s, lease %s/%s)",
            "started" if leader else "stopped",
            self.config.identity,
            self.config.namespace,
            self.config.name,
        )
        try:
            (self._on_started if leader else self._on_stopped)()
        except Exception:  # a callback's failure must not end the election loop
            log.exception("leadership callback failed")

    def _release(self) -> None:
        if self._lease is None or holder_of(self._lease) != self.config.identity:
            return
        try:
            self.api.update(released(self._lease, self._wall()))
            log.info("released the lease")
        except (Conflict, DrkitError, OSError) as exc:
            log.warning("could not release the lease: %s", exc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            # a standby polls at the same pace: a takeover happens within duration + one period
            self._stop.wait(self.config.retry_period)
