"""A directory waiting for its files' chunk ids (``_LateTree``): ready exactly when every chunk is done,
and asked again and again (once per directory the walk lists) without rechecking the chunks it has
already found done."""

from __future__ import annotations

from drkit.repo.engine.backup import _LateTree, _PendingFile


class Chunk:
    def __init__(self) -> None:
        self.is_done = False
        self.asked = 0

    def done(self) -> bool:
        self.asked += 1
        return self.is_done


def _pending(chunks: list[Chunk]) -> _PendingFile:
    pf = _PendingFile.__new__(_PendingFile)
    pf.chunks = chunks  # type: ignore[assignment]
    return pf


def test_ready_once_every_chunk_is_done_and_done_chunks_are_not_asked_again() -> None:
    files = [[Chunk()] for _ in range(1000)] + [[Chunk(), Chunk(), Chunk()]]
    late = _LateTree([], [_pending(cs) for cs in files], [])
    chunks = [c for cs in files for c in cs]
    assert not late.ready()
    for step in range(0, len(chunks), 7):  # the chunks finish in order, a few at a time
        for c in chunks[step : step + 7]:
            c.is_done = True
        assert late.ready() is (step + 7 >= len(chunks))
    assert late.ready()
    # each chunk asked at most once after it was done, plus once per ask while it was the first not done
    assert sum(c.asked for c in chunks) <= 2 * len(chunks) + len(chunks) // 7 + 2


def test_a_directory_without_files_is_ready() -> None:
    assert _LateTree([], [], []).ready()
    assert _LateTree([], [_pending([])], []).ready()
