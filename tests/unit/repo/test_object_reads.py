"""Reads that survive a byte flipped in transit: ``agreed_read`` (the bytes two reads agree on, for
objects whose check cannot tell a flipped byte from a wrong credential: key slots) and what
``VerifiedReader`` records of a re-read. Found as gaps by mutation testing (docs/testing.md): the
key ring's and repository's tests reach both, but nothing pinned the version read or what is logged."""

from __future__ import annotations

import logging

import pytest

from drkit.repo.format.objects import TransitEvent, VerifiedReader, agreed_read
from tests.unit.repo.fakestore import FakeStore

KEY = "keys/0123456789abcdef"


class Scripted(FakeStore):
    """Answers the reads of ``KEY`` from ``answers`` in turn (a byte flipped on some of the ways)."""

    def __init__(self, answers: list[bytes]) -> None:
        super().__init__()
        self.answers = answers
        self.asked: list[str | None] = []

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        self.asked.append(version_id)
        return self.answers.pop(0)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_version_asked_for_is_the_one_read() -> None:
    store = FakeStore()
    v1 = store.put(KEY, b"the slot as written")
    store.overwrite(KEY, b"a newer version")
    assert agreed_read(store, KEY, version_id=v1) == b"the slot as written"
    assert agreed_read(store, KEY) == b"a newer version"


def test_two_reads_that_agree_at_once_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    store = Scripted([b"slot", b"slot", b"never read"])
    with caplog.at_level(logging.WARNING, logger="drkit.repo.format.objects"):
        assert agreed_read(store, KEY, version_id="v7") == b"slot"
    assert store.asked == ["v7", "v7"]
    assert _warnings(caplog) == []


@pytest.mark.parametrize(
    ("answers", "disagreed"),
    [([b"fl1pped", b"slot", b"slot"], 1), ([b"fl1pped", b"flipp3d", b"slot", b"slot"], 2)],
)
def test_reads_that_disagree_then_agree_give_the_agreed_bytes_and_say_so(
    caplog: pytest.LogCaptureFixture, answers: list[bytes], disagreed: int
) -> None:
    store = Scripted(answers)
    with caplog.at_level(logging.WARNING, logger="drkit.repo.format.objects"):
        assert agreed_read(store, KEY, reads=len(answers)) == b"slot"
    assert _warnings(caplog) == [
        f"{KEY}: reads disagreed {disagreed} time(s), then two agreed (a fault in transit)"
    ]


class FlipFirst(FakeStore):
    """Flips a byte of the first ``flips`` reads (a server that sends no checksum header)."""

    def __init__(self, flips: int) -> None:
        super().__init__()
        self.flips = flips

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        data = super().get(key, version_id=version_id)
        if self.flips > 0:
            self.flips -= 1
            return bytes([data[0] ^ 0x40]) + data[1:]
        return data


def test_a_read_that_passes_at_once_records_no_fault_in_transit(caplog: pytest.LogCaptureFixture) -> None:
    store = FlipFirst(0)
    store.put(KEY, b"intact")
    reader = VerifiedReader(store)
    with caplog.at_level(logging.WARNING, logger="drkit.repo.format.objects"):
        assert reader.read(KEY, lambda data: data == b"intact") == (b"intact", None)
    assert reader.transit == []
    assert _warnings(caplog) == []


def test_a_fault_in_transit_names_the_version_read() -> None:
    store = FlipFirst(0)
    v1 = store.put(KEY, b"intact")
    store.overwrite(KEY, b"newer")
    store.flips = 2
    reader = VerifiedReader(store)
    assert reader.read(KEY, lambda data: data == b"intact", version_id=v1) == (b"intact", v1)
    assert reader.transit == [TransitEvent(KEY, v1, 2)]
    assert reader.events == []
