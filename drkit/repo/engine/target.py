"""What writing a snapshot needs of an open repository: the one interface the backup engines take.

``backup_directory`` (:mod:`drkit.repo.engine.backup`) and :class:`~drkit.repo.engine.snapshotwriter.
SnapshotWriter` build a snapshot through a :class:`SnapshotTarget`, never through the whole
``Repository`` (which provides it). A unit test can hand them any object with these members.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from drkit.repo.engine.references import Referenced
from drkit.repo.format.blobwriter import BlobWriter, WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.model import Snapshot

if TYPE_CHECKING:  # the file-tree engine: imported by those who walk directories, not by a stream
    from drkit.repo.engine.backup import ParentTrees


class SnapshotTarget(Protocol):
    """An open repository, as the engines that write a snapshot see it."""

    @property
    def settings(self) -> WriterSettings:
        """How to write: worker threads, whether to skip files unchanged since a parent."""
        ...

    @property
    def chunker_params(self) -> ChunkerParams:
        """The repository's chunker parameters (recorded in its config)."""
        ...

    def now(self) -> datetime:
        """The repository's clock (UTC)."""
        ...

    def known_snapshots(self) -> Sequence[Snapshot]:
        """The readable snapshots, oldest first, to find a parent in (none when opened write-only)."""
        ...

    def blob_writer(self) -> BlobWriter:
        """A writer for one snapshot's blobs (dedup against the index, packs, index objects)."""
        ...

    def parent_trees(self, parent: Snapshot, tree: bytes) -> ParentTrees:
        """``parent``'s trees from ``tree`` down, to skip files unchanged since it was made."""
        ...

    def commit_snapshot(
        self, snap: Snapshot, writer: BlobWriter, referenced: Referenced, started: float
    ) -> Snapshot:
        """Lock what ``snap`` references, then store its manifest (``writer`` closed); the stored
        snapshot, with its id."""
        ...
