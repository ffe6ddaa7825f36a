import pytest

from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded, FswatchError


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


def test_expired_at_the_instant_itself_and_timeout_refuses_zero():
    clock = Clock()
    d = Deadline(clock.t + 1, clock)
    assert not d.expired()
    clock.t += 1  # exactly at the deadline: no time left, and 0 must not reach a socket
    assert d.expired() and d.remaining() == 0
    with pytest.raises(DeadlineExceeded) as info:
        d.timeout()
    assert str(info.value) == "deadline reached"
    with pytest.raises(DeadlineExceeded) as info:
        d.timeout("tree connect")
    assert str(info.value) == "tree connect"
