"""drkit.deadline.run: the call's result, its error, a slow call reported once, a hung one abandoned."""

from __future__ import annotations

import threading

import pytest

from drkit.deadline import DeadlineExceeded, Timeouts, run


def test_a_quick_call_returns_its_value_and_is_never_called_slow() -> None:
    slow: list[float] = []
    assert run(lambda: 42, 5.0, slow=1.0, on_slow=slow.append) == 42
    assert slow == []


def test_the_calls_own_error_reaches_the_caller() -> None:
    def boom() -> None:
        raise KeyError("inner")

    with pytest.raises(KeyError, match="inner"):
        run(boom, 5.0)


def test_a_hung_call_is_abandoned_at_its_deadline_and_reported_slow_once_before() -> None:
    release = threading.Event()
    slow: list[float] = []
    with pytest.raises(DeadlineExceeded, match=r"no answer within 0\.3s"):
        run(lambda: release.wait(30), 0.3, slow=0.1, on_slow=slow.append)
    release.set()
    assert len(slow) == 1
    assert 0.1 <= slow[0] < 0.3


def test_worker_threads_are_daemons_so_a_hung_call_never_keeps_the_process_alive() -> None:
    release = threading.Event()
    with pytest.raises(DeadlineExceeded):
        run(lambda: release.wait(30), 0.05)
    workers = [t for t in threading.enumerate() if t.name == "drkit-deadline"]
    release.set()
    assert workers
    assert all(t.daemon for t in workers)


def test_timeouts_derive_data_slow_and_attempt_seconds_and_refuse_nonsense() -> None:
    t = Timeouts(metadata=120)
    assert (t.data_seconds, t.slow_seconds, t.attempt_seconds) == (600, 15, 40)
    assert Timeouts(metadata=2).slow_seconds == 0.5
    with pytest.raises(ValueError, match="outside"):
        Timeouts(metadata=0)
