import pytest

from fswatch.deadline import Deadline
from fswatch.errors import DeadlineExceeded, FswatchError


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_remaining_and_timeout():
    clock = Clock()
    d = Deadline.after(5, clock)
    assert d.remaining() == 5
    clock.t += 4.5
    assert d.timeout() == pytest.approx(0.5)
    clock.t += 1
    assert d.remaining() == 0 and d.expired()
    with pytest.raises(DeadlineExceeded):
        d.timeout("read")


def test_deadline_error_is_under_the_root():
    assert issubclass(DeadlineExceeded, FswatchError)
