"""drkit.deadline.run: the call's result, its error, a slow call reported once, a hung one abandoned."""

from __future__ import annotations

import threading

import pytest

from drkit.deadline import Deadline, DeadlineExceeded, Timeouts, run


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


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_polls_start_at_once_and_end_with_a_last_look_at_the_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    seen = [(attempt, clock.now) for attempt in deadline.polls(0.4, sleep=clock.sleep)]
    assert [a for a, _ in seen] == [1, 2, 3, 4]
    assert [t for _, t in seen] == pytest.approx([100.0, 100.4, 100.8, 101.0])
    assert clock.sleeps == pytest.approx([0.4, 0.4, 0.2])  # never a sleep past the deadline
    assert deadline.expired()
    assert deadline.remaining() == 0.0


def test_leaving_the_loop_stops_polling_and_keeps_the_rest_of_the_time() -> None:
    clock = FakeClock()
    deadline = Deadline(10.0, clock=clock)
    for attempt in deadline.polls(1.0, sleep=clock.sleep):
        if attempt == 3:
            break
    else:
        pytest.fail("the loop ran out of time")
    assert clock.sleeps == [1.0, 1.0]
    assert deadline.remaining() == pytest.approx(8.0)
    assert not deadline.expired()


def test_a_zero_or_spent_deadline_still_looks_once() -> None:
    clock = FakeClock()
    assert list(Deadline(0.0, clock=clock).polls(1.0, sleep=clock.sleep)) == [1]
    shared = Deadline(2.0, clock=clock)
    list(shared.polls(1.0, sleep=clock.sleep))  # the first wait spends the budget
    assert list(shared.polls(1.0, sleep=clock.sleep)) == [1]  # the next gets one look, no sleep
    assert clock.sleeps == [1.0, 1.0]
