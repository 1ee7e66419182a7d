"""EarlySnapshot: Status and HashKV on a thread of their own while the repository opens; the stream,
or their error, handed over once; a stream nobody took is closed.

``open_stream`` stands in for ``EtcdClient.snapshot`` (a fake of drkit's own callable, not of etcd);
the streams are real :class:`SnapshotStream` objects over a recorded gateway stream.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from drkit.capture.cluster import ClusterBackupRequest, start_etcd
from drkit.etcd import EtcdClient
from drkit.etcd.early import EarlySnapshot
from drkit.etcd.errors import EtcdUnavailable
from drkit.etcd.snapshot import SnapshotStream
from drkit.storage.base import LockMode
from tests.unit.etcd import streams
from tests.unit.etcd.test_snapshot_result import BEFORE, EP, HASH, pieces


class Body:
    """The stream's body: records whether it was closed (the gRPC call cancelled)."""

    def __init__(self, data: bytes) -> None:
        self._it: Iterator[bytes] = pieces(data)
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._it

    def __next__(self) -> bytes:
        return next(self._it)

    def close(self) -> None:
        self.closed = True


def make_stream(body: Body) -> SnapshotStream:
    return SnapshotStream(EP, BEFORE, HASH, body, lambda: (BEFORE, False))


def test_status_and_hashkv_run_on_another_thread_and_the_stream_is_handed_over_whole() -> None:
    callers: list[int] = []
    body = Body(streams.recorded())

    def open_stream() -> SnapshotStream:
        callers.append(threading.get_ident())
        return make_stream(body)

    with EarlySnapshot(open_stream) as early:
        stream = early.stream()
        data = b"".join(stream)
    assert len(callers) == 1
    assert callers[0] != threading.get_ident(), "Status and HashKV ran on the caller's thread"
    assert data == b"".join(streams.blobs(streams.recorded()))
    assert stream.result.size == 114688
    assert not body.closed, "a stream that was taken is the taker's, not closed behind its back"


def test_the_error_of_status_or_hashkv_is_raised_by_stream() -> None:
    def open_stream() -> SnapshotStream:
        raise EtcdUnavailable("etcd http://127.0.0.1:9: connection refused")

    early = EarlySnapshot(open_stream)
    with pytest.raises(EtcdUnavailable, match="connection refused"):
        early.stream()
    with pytest.raises(RuntimeError, match="already taken"):
        early.stream()


def test_a_stream_nobody_took_is_closed() -> None:
    body = Body(streams.recorded())
    early = EarlySnapshot(lambda: make_stream(body))
    early._thread.join()  # the stream exists: close() must close it
    early.close()
    assert body.closed
    with pytest.raises(RuntimeError, match="taken or closed"):
        early.stream()


def test_a_stream_that_arrives_after_close_is_closed() -> None:
    body = Body(streams.recorded())
    go = threading.Event()

    def open_stream() -> SnapshotStream:
        go.wait()
        return make_stream(body)

    early = EarlySnapshot(open_stream)
    early.close()  # e.g. the repository did not open
    go.set()
    early._thread.join()
    assert body.closed


def test_start_etcd_only_with_etcd_and_without_a_lock_to_check_first() -> None:
    client = EtcdClient(["http://127.0.0.1:9"])
    assert start_etcd(ClusterBackupRequest()) is None
    locked = ClusterBackupRequest(etcd=client, lock_mode=LockMode.COMPLIANCE, lock_period=timedelta(days=1))
    assert start_etcd(locked) is None, "a lock the repository cannot give is refused before etcd is asked"
    early = start_etcd(ClusterBackupRequest(etcd=client))
    assert isinstance(early, EarlySnapshot)
    with early, pytest.raises(EtcdUnavailable):  # nothing listens on port 9
        early.stream()


def test_preload_imports_grpc_which_importing_the_client_does_not() -> None:
    code = (
        "import sys\n"
        "from drkit.etcd import EtcdClient, grpcsnapshot\n"
        "before = 'grpc' in sys.modules\n"
        "grpcsnapshot.preload()\n"
        "print(before, 'grpc' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
