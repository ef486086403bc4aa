"""dlcourse.timing: which calls are timed, in which order, and which statistic comes back.

A fake clock makes the expected numbers derivable by hand: each timed call advances it by a
duration the test chose, so nothing here depends on the speed of the machine.
"""

import pytest

from dlcourse import timing


class FakeClock:
    """perf_counter stand-in: a call to a fake function advances it by that function's next duration."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, log, name, durations):
        def fn():
            log.append(name)
            self.now += durations.pop(0)
        return fn


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def test_best_time_is_the_fastest_call(clock):
    log = []
    assert timing.best_time(clock.work(log, "f", [3.0, 1.0, 2.0]), repeat=3) == 1.0
    assert log == ["f"] * 3


def test_median_times_runs_in_turns_after_an_uncounted_warm_up(clock):
    log = []
    # The warm-up call of "a" takes 100 s: a median that counted it would not be 2.0.
    fns = {"a": clock.work(log, "a", [100.0, 1.0, 2.0, 9.0]),
           "b": clock.work(log, "b", [50.0, 4.0, 5.0, 6.0])}
    medians = timing.median_times(fns, repeat=3)
    assert list(medians) == ["a", "b"], "results must keep the order of fns"
    assert medians == {"a": 2.0, "b": 5.0}
    assert log == ["a", "b"] + ["a", "b"] * 3, "one warm-up each, then in turns, not all of a then all of b"


@pytest.mark.parametrize("call", [lambda: timing.best_time(lambda: None, repeat=0),
                                  lambda: timing.median_times({"f": lambda: None}, repeat=0)])
def test_repeat_below_one_is_refused(call):
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        call()
