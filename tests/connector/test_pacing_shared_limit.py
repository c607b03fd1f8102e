"""The rolling-window pacer takes in the server's own count of what is left in its window."""

from __future__ import annotations

from connector.crm.clock import ManualClock
from connector.crm.pacing import RollingWindowPacer


def test_others_use_of_the_limit_is_booked_so_we_wait_instead_of_meeting_a_429() -> None:
    clock = ManualClock()
    pacer = RollingWindowPacer(10, 10.0, clock)
    assert pacer.observe_remaining(3) == 7  # someone else spent 7 of the 10
    waits = [pacer.acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 9.99 <= waits[3] <= 10.0  # the 4th waits for the window, as the server would demand


def test_our_own_requests_are_not_booked_twice() -> None:
    clock = ManualClock()
    pacer = RollingWindowPacer(10, 10.0, clock)
    for _ in range(5):
        pacer.acquire()
    assert pacer.observe_remaining(5) == 0  # the server counted our 5
    assert pacer.observe_remaining(7) == 0  # a stale reply looks freer than we are: ignored
    assert [pacer.acquire() for _ in range(5)] == [0.0] * 5
    assert pacer.acquire() > 0


def test_booked_slots_expire_with_the_window() -> None:
    clock = ManualClock()
    pacer = RollingWindowPacer(10, 10.0, clock)
    pacer.observe_remaining(0)
    clock.sleep(10.5)
    assert pacer.observe_remaining(10) == 0
    assert [pacer.acquire() for _ in range(10)] == [0.0] * 10
