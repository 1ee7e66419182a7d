"""``capture/resources.json`` of a cluster snapshot: one record per captured object, sorted by path.

The document is ``json.dumps([{"path": ..., "group": ..., ...}, ...], separators=(",", ":"))`` with
the records in path order (docs/format.md, "Cluster snapshots"). Objects arrive in list order
(resource type by resource type), not in path order, so the records must be sorted; at 100k objects
holding them all costs tens of MB. :class:`RecordSpool` keeps at most ``run`` of them in memory: each
full run is sorted and written to an anonymous temporary file (``TMPDIR``; deleted when closed),
and :meth:`RecordSpool.pieces` merges the runs into the document in pieces of about
``RECORDS_PIECE`` bytes. Same bytes as sorting everything in memory.

The merge holds one batch of ``_BATCH`` records per run; so that this does not grow with the
object count, every ``MAX_RUNS`` runs are merged into one longer run in the same file as they
accumulate (a capture of more than ``RUN * MAX_RUNS`` objects writes its records twice).
"""

from __future__ import annotations

import heapq
import json
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Final

RECORD_KEYS: Final = (
    "path",
    "group",
    "version",
    "resource",
    "kind",
    "namespace",
    "name",
    "resourceVersion",
    "listResourceVersion",
)
Record = tuple[str, str, str, str, str, str, str, str, str]
"""One object of ``capture/resources.json`` held as a tuple (the values of ``RECORD_KEYS``)."""
RECORDS_PIECE: Final = 1 << 20
RUN: Final = 8192
"""Records sorted in memory at once (a few MB); more go to temporary files in sorted runs."""
_BATCH: Final = 64
MAX_RUNS: Final = 32
"""Runs merged at once: more are first merged into one (the merge holds a batch per run)."""


def encode_sorted(records: Iterable[Record], piece_size: int = RECORDS_PIECE) -> Iterator[bytes]:
    """The document from records already in path order, in pieces of about ``piece_size`` bytes."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    piece: list[str] = ["["]
    size = 1
    first = True
    for record in records:
        text = dumps(dict(zip(RECORD_KEYS, record, strict=True)))
        piece.append(text if first else "," + text)
        first = False
        size += len(text) + 1
        if size >= piece_size:
            yield "".join(piece).encode()
            piece, size = [], 0
    piece.append("]")
    yield "".join(piece).encode()


def _read_run(f: IO[bytes], offset: int, batches: int) -> Iterator[Record]:
    pos = offset
    for _ in range(batches):
        f.seek(pos)
        batch: list[Record] = pickle.load(f)  # noqa: S301 - our own temporary file, written above
        pos = f.tell()
        yield from batch


class RecordSpool:
    """Records in any order in, the sorted document out, with at most ``run`` records in memory."""

    def __init__(self, run: int = RUN, max_runs: int = MAX_RUNS) -> None:
        self._run_size = max(1, run)
        self._max_runs = max(2, max_runs)
        self._records: list[Record] = []
        self._file: IO[bytes] | None = None
        self._runs: list[tuple[int, int]] = []  # (offset, batches) of each sorted run in the file
        self.count = 0

    def add(self, record: Record) -> None:
        self._records.append(record)
        self.count += 1
        if len(self._records) >= self._run_size:
            self._spill()

    def _spill(self) -> None:
        self._records.sort()  # path first: the path order (paths are unique)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="drkit-records-")  # noqa: SIM115 - closed in close()
        self._runs.append(self._write_run(self._records))
        self._records = []
        if len(self._runs) >= self._max_runs:  # one longer run instead: the merge stays bounded
            self._runs = [self._write_run(self._merged())]

    def _write_run(self, records: Iterable[Record]) -> tuple[int, int]:
        f = self._file
        assert f is not None
        offset = f.seek(0, 2)
        batches = 0
        batch: list[Record] = []
        for record in records:
            batch.append(record)
            if len(batch) >= _BATCH:
                f.seek(0, 2)  # a merge being read into this run moves the position
                pickle.dump(batch, f, protocol=pickle.HIGHEST_PROTOCOL)
                batches += 1
                batch = []
        if batch:
            f.seek(0, 2)
            pickle.dump(batch, f, protocol=pickle.HIGHEST_PROTOCOL)
            batches += 1
        return offset, batches

    def _merged(self) -> Iterator[Record]:
        """The runs written so far, merged (one reader per run: each seeks to its own position in the
        one file before reading)."""
        assert self._file is not None
        self._file.flush()
        runs = [_read_run(self._file, offset, batches) for offset, batches in self._runs]
        return heapq.merge(*runs)

    def pieces(self, piece_size: int = RECORDS_PIECE) -> Iterator[bytes]:
        """The whole document, in path order, in pieces; the spool is closed at the end."""
        try:
            if self._file is None:
                self._records.sort()
                yield from encode_sorted(self._records, piece_size)
                return
            if self._records:
                self._spill()
            yield from encode_sorted(self._merged(), piece_size)
        finally:
            self.close()

    def close(self) -> None:
        self._records = []
        if self._file is not None:
            self._file.close()
            self._file = None
