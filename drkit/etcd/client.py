"""``EtcdClient``: status, health and HashKV over etcd's gRPC-JSON gateway; verified snapshots over gRPC."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from drkit.errors import ConfigError, EtcdError, VerificationFailed
from drkit.etcd import grpcsnapshot
from drkit.etcd.config import EtcdEndpoint, EtcdTLS
from drkit.etcd.errors import EtcdRequestFailed
from drkit.etcd.snapshot import HashKV, SnapshotStream
from drkit.etcd.status import DEFAULT_MAX_LAG, EndpointHealth, Probe, Status, choose, problem_of
from drkit.etcd.transport import Transport

DEFAULT_TIMEOUT = 10.0
"""Seconds to connect and for each read (a snapshot read waits at most this long for more bytes)."""
DEFAULT_HASH_TIMEOUT = 300.0
"""Seconds for a HashKV answer: etcd reads the whole key bucket (seconds per GB)."""


class EtcdClient:
    """A client for one etcd cluster reached through one or more endpoints.

    ``endpoints``: URLs or ``host:port`` (``https`` assumed when ``tls`` is given, else ``http``).
    ``tls``: CA and client certificate (:meth:`EtcdTLS.kubeadm` for a kubeadm node).
    Calls that take ``endpoint=None`` use :meth:`healthiest`.
    ``timeout`` bounds the connect and each read; ``deadline`` a whole call (default: the CLI's
    ``--timeout``; HashKV gets ``hash_timeout`` when longer).
    """

    def __init__(
        self,
        endpoints: Iterable[str | EtcdEndpoint],
        tls: EtcdTLS | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        hash_timeout: float = DEFAULT_HASH_TIMEOUT,
        max_lag: int = DEFAULT_MAX_LAG,
        prefer_leader: bool = False,
        deadline: float | None = None,
    ) -> None:
        scheme = "https" if tls is not None else "http"
        self.endpoints: tuple[EtcdEndpoint, ...] = tuple(
            e if isinstance(e, EtcdEndpoint) else EtcdEndpoint.parse(e, default_scheme=scheme)
            for e in endpoints
        )
        if not self.endpoints:
            raise ConfigError("no etcd endpoints given", field="etcd endpoints")
        self.tls = tls
        context: ssl.SSLContext | None = None
        if tls is not None:
            context = tls.context()
        elif any(e.tls for e in self.endpoints):
            context = ssl.create_default_context()
        self._transport = Transport(
            context, timeout, tls.server_name if tls else None, deadline_seconds=deadline
        )
        self._hash_timeout = max(hash_timeout, timeout)
        self._max_lag = max_lag
        self._prefer_leader = prefer_leader

    def _endpoint(self, endpoint: str | EtcdEndpoint | None) -> EtcdEndpoint:
        if endpoint is None:
            return self.healthiest().endpoint
        if isinstance(endpoint, EtcdEndpoint):
            return endpoint
        return EtcdEndpoint.parse(endpoint, default_scheme="https" if self.tls else "http")

    def _call(
        self, endpoint: EtcdEndpoint, path: str, body: Any, timeout: float | None = None
    ) -> dict[str, Any]:
        doc = self._transport.call(endpoint, "POST", path, body, timeout=timeout)
        if not isinstance(doc, dict):
            raise EtcdRequestFailed(f"etcd {endpoint} ({path}): unexpected answer {str(doc)[:200]}")
        return doc

    # -- status -------------------------------------------------------------------------------

    def status(self, endpoint: str | EtcdEndpoint) -> Status:
        """``Maintenance.Status`` of the member at ``endpoint``."""
        ep = self._endpoint(endpoint)
        return Status.from_json(ep, self._call(ep, "/v3/maintenance/status", {}))

    def health(self, endpoint: str | EtcdEndpoint) -> EndpointHealth:
        """etcd's ``/health`` verdict. Unhealthy answers are returned; unreachable raises ``EtcdError``."""
        ep = self._endpoint(endpoint)
        doc = self._transport.call(ep, "GET", "/health", accept=(503,))  # 503: etcd says unhealthy
        healthy = isinstance(doc, dict) and str(doc.get("health")).lower() == "true"
        reason = str(doc.get("reason", "")).strip() if isinstance(doc, dict) else str(doc)
        return EndpointHealth(ep, healthy, reason)

    def probe(self) -> list[Probe]:
        """The status of every endpoint, or why there is none (never raises for one endpoint)."""
        probes: list[Probe] = []
        for ep in self.endpoints:
            try:
                st = self.status(ep)
            except EtcdError as exc:
                probes.append(Probe(ep, None, exc.message))
                continue
            probes.append(Probe(ep, st, problem_of(st)))
        return probes

    def healthiest(self) -> Status:
        """The status of the endpoint to use (rule: :func:`drkit.etcd.status.choose`)."""
        return choose(self.probe(), max_lag=self._max_lag, prefer_leader=self._prefer_leader)

    # -- hashkv -------------------------------------------------------------------------------

    def hash_kv(self, revision: int, endpoint: str | EtcdEndpoint | None = None) -> HashKV:
        """``Maintenance.HashKV`` at ``revision`` (0: the current one) on one member."""
        ep = self._endpoint(endpoint)
        doc = self._call(ep, "/v3/maintenance/hashkv", {"revision": str(revision)}, self._hash_timeout)
        header = doc.get("header") if isinstance(doc.get("header"), dict) else {}
        assert isinstance(header, dict)
        try:
            return HashKV(
                hash=int(doc.get("hash", 0)),
                compact_revision=int(doc.get("compact_revision", 0)),
                hash_revision=int(doc.get("hash_revision", revision)),
                revision=int(header.get("revision", 0)),
                member_id=int(header.get("member_id", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise EtcdRequestFailed(f"etcd {ep}: malformed HashKV answer {str(doc)[:200]}") from exc

    def verify_restored(
        self, expected: Mapping[str, Any], endpoint: str | EtcdEndpoint | None = None
    ) -> HashKV:
        """Prove a restored member equal to the snapshot: its HashKV at the recorded revision must be the
        recorded ``{"revision", "hash", "compact_revision"}`` (``SnapshotResult.to_record()["hash_kv"]``).

        When the member is still at that revision, ``HashKV(0)`` is asked (computed fresh, like the
        recorded one; never etcd's cache of compaction-time hashes). Raises ``VerificationFailed``.
        """
        ep = self._endpoint(endpoint)
        try:
            want = (int(expected["revision"]), int(expected["hash"]), int(expected["compact_revision"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a recorded HashKV: {expected!r}") from exc
        current = self.status(ep).revision
        if current < want[0]:
            raise VerificationFailed(
                f"etcd {ep}: restored member is at revision {current}, before the recorded {want[0]}"
            )
        got = self.hash_kv(0 if current == want[0] else want[0], ep)
        if got.proof() != want:
            raise VerificationFailed(
                f"etcd {ep}: restored member differs from the snapshot: HashKV at revision {want[0]} is "
                f"hash {got.hash} (compacted at {got.compact_revision}), recorded hash {want[1]} "
                f"(compacted at {want[2]})"
                + (f"; its revision is {got.hash_revision}" if got.hash_revision != want[0] else "")
            )
        return got

    def compacted_since(self, compact_revision: int, endpoint: str | EtcdEndpoint | None = None) -> bool:
        """Whether the member compacted past ``compact_revision`` (a one-key read at that revision:
        etcd refuses reads below its compaction point)."""
        ep = self._endpoint(endpoint)
        probe = {"key": "AA==", "revision": str(max(compact_revision, 1)), "limit": "1", "keys_only": True}
        try:
            self._call(ep, "/v3/kv/range", probe)
        except EtcdRequestFailed as exc:
            if "compacted" in exc.message:
                return True
            raise
        return False

    # -- snapshot -----------------------------------------------------------------------------

    def snapshot(
        self, endpoint: str | EtcdEndpoint | None = None, *, protocol: str = "grpc"
    ) -> SnapshotStream:
        """Start a verified snapshot download from ``endpoint`` (default: the healthiest).

        Status and HashKV are read now (errors raise here); the stream starts on the first
        ``next()``. See :mod:`drkit.etcd.snapshot` for what is verified and what ``result`` proves.
        ``protocol``: ``grpc`` (etcd's native API, as ``etcdctl``; several times faster, see
        :mod:`drkit.etcd.grpcsnapshot`) or ``gateway`` (the JSON gateway, base64 in JSON lines).
        """
        if protocol not in ("grpc", "gateway"):
            raise ConfigError(f"etcd snapshot protocol {protocol!r} is not grpc or gateway", field="protocol")
        ep = self._endpoint(endpoint)
        before = self.status(ep)
        # HashKV(0): computed now at the current revision, never served from etcd's cache of hashes
        # taken at compactions (that cache answers HashKV(R) for a compacted R with the hash as it
        # was before the compaction, which a member restored from a later snapshot would not give).
        hash_before = self.hash_kv(0, ep)

        def after() -> tuple[Status, bool]:
            return self.status(ep), self.compacted_since(hash_before.compact_revision, ep)

        if protocol == "gateway":
            body = self._transport.stream(ep, "/v3/maintenance/snapshot", {})
            return SnapshotStream(ep, before, hash_before, body, after)
        grpcsnapshot.preload()
        messages = grpcsnapshot.stream(ep, self.tls, self._transport.read_timeout)
        parser = grpcsnapshot.GrpcSnapshotParser(f"etcd {ep} snapshot")
        return SnapshotStream(ep, before, hash_before, messages, after, parser=parser)
