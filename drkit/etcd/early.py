"""A snapshot's Status and HashKV asked on a thread, while the caller does something else.

``drkit backup run`` opens the repository (scrypt: ~0.2-0.3 s of one core) before it stores anything.
:class:`EarlySnapshot` asks etcd for Status and HashKV meanwhile (etcd computes HashKV over the whole
key space on its side: ~0.25 s for a 300 MiB database) and hands over the
:class:`~drkit.etcd.snapshot.SnapshotStream` when the caller is ready to read it.

The stream itself is not started early: its gRPC call begins on the stream's first ``next()``, in
the caller's thread. Started before the repository has opened and its index loaded, a stream that
nobody reads would stall etcd and trip the idle timeout. Nothing of the revision bracket changes:
Status and HashKV still come before the stream and Status and the compaction check after it
(:mod:`drkit.etcd.snapshot`); the bracket only begins a little earlier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from drkit.etcd.snapshot import SnapshotStream


class EarlySnapshot:
    """``open_stream()`` (e.g. ``EtcdClient.snapshot``) run on a thread from construction on.

    :meth:`stream` waits for it and returns the stream (or raises its error: etcd unreachable, no
    healthy member, ...). ``close()`` (or leaving a ``with`` block) closes a stream that was never
    taken; one that was taken is the taker's to close.
    """

    def __init__(self, open_stream: Callable[[], SnapshotStream]) -> None:
        self._open = open_stream
        self._stream: SnapshotStream | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="drkit-etcd-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            stream = self._open()
        except BaseException as exc:  # noqa: BLE001 - raised to the caller by stream()
            self._error = exc
            return
        with self._lock:
            closed = self._closed
            self._stream = stream
        if closed:
            stream.close()

    def stream(self) -> SnapshotStream:
        """The stream, once Status and HashKV have answered; raises what they raised. Once only."""
        self._thread.join()
        with self._lock:
            if self._taken or self._closed:
                raise RuntimeError("the early etcd snapshot was already taken or closed")
            self._taken = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._stream is not None
        return self._stream

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stream = None if self._taken else self._stream
        if stream is not None:
            stream.close()

    def __enter__(self) -> EarlySnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
