"""The client-side rate limiter (`connector.crm.ratelimit`) and the HubSpot adapter under a rate
window: HubSpot's limit is approached, never exceeded, and what its headers say wins."""

from __future__ import annotations

import threading
import time

import pytest

from connector.crm.base import RecordWrite
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.ratelimit import RollingWindowBudget
from connector.store.budgets import BudgetExhausted, MemoryBuckets
from connector.store.crm_records import SqlContactCache
from tests.crm.hubspot_kit import make_adapter, rule, sms
from tests.fakes.hubspot import FakeHubSpot


class FakeTime:
    """A clock that only `sleep` (and the test) moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


def limiter(t: FakeTime, limit: int = 3, window: float = 10.0) -> RollingWindowBudget:
    return RollingWindowBudget(limit, window, clock=t.clock, sleep=t.sleep)


def rate_headers(
    *, remaining: int | None = None, limit: int | None = None, window_ms: int | None = None
) -> dict[str, str]:
    """HubSpot's answer headers, in the case HubSpot writes them."""
    values = {
        "X-HubSpot-RateLimit-Remaining": remaining,
        "X-HubSpot-RateLimit-Max": limit,
        "X-HubSpot-RateLimit-Interval-Milliseconds": window_ms,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def starts(t: FakeTime, rl: RollingWindowBudget, calls: int, duration: float = 0.0) -> list[float]:
    started = []
    for _ in range(calls):
        with rl.slot():
            started.append(t.now)
            t.now += duration
    return started


# ---- the limiter -------------------------------------------------------------------------------


def test_no_more_than_the_limit_in_any_window(t: FakeTime) -> None:
    assert starts(t, limiter(t), 7) == [0, 0, 0, 10, 10, 10, 20]


def test_a_slot_is_held_until_a_window_after_the_call_ended(t: FakeTime) -> None:
    # The server counts a call somewhere between its start and its end: counting from the end
    # never under-counts, whatever the latency.
    assert starts(t, limiter(t, limit=1), 3, duration=2.0) == [0, 12, 24]


def test_the_next_slot_is_told_without_taking_it(t: FakeTime) -> None:
    rl = limiter(t, limit=2)
    assert rl.next_slot_in() == 0
    starts(t, rl, 2, duration=1.0)  # two calls: 0-1 s and 1-2 s, each held a window after

    assert rl.next_slot_in() == pytest.approx(9.0)
    assert rl.next_slot_in() == pytest.approx(9.0)  # asking takes nothing
    assert rl.remaining() == 0


def test_headers_saying_less_is_left_slow_us_down(t: FakeTime) -> None:
    rl = limiter(t, limit=100)
    with rl.slot():
        rl.observe(rate_headers(remaining=1, limit=100, window_ms=10_000))  # others spent 98

    assert rl.remaining() == 1
    assert starts(t, rl, 2) == [0, 10]


def test_a_smaller_server_limit_is_adopted_never_a_larger_one(t: FakeTime) -> None:
    rl = limiter(t, limit=100)

    rl.observe(rate_headers(limit=50, window_ms=5_000))
    assert (rl.limit, rl.window) == (50, 5.0)
    rl.observe(rate_headers(limit=190, window_ms=10_000))
    assert rl.limit == 100


def test_a_pause_holds_every_caller(t: FakeTime) -> None:
    rl = limiter(t, limit=100)
    rl.pause_for(4.0)

    assert starts(t, rl, 2) == [4.0, 4.0]


def test_after_a_429_without_retry_after_the_rest_of_the_window_is_waited(t: FakeTime) -> None:
    rl = limiter(t, limit=100, window=10.0)
    starts(t, rl, 1)
    t.now = 3.0

    assert rl.pause_for_rest_of_window() == pytest.approx(7.0)
    assert starts(t, rl, 1) == [pytest.approx(10.0)]


def test_a_slot_held_by_a_process_that_died_is_free_again_after_the_longest_call(
    t: FakeTime,
) -> None:
    store = MemoryBuckets(t.clock)
    died = RollingWindowBudget(1, 10.0, store=store, clock=t.clock, max_call_seconds=60.0)
    died.acquire()  # and never released: its process was killed mid-call
    alive = RollingWindowBudget(1, 10.0, store=store, clock=t.clock, sleep=t.sleep)

    assert alive.acquire() == pytest.approx(70.0)


def test_several_slots_are_taken_at_once_or_not_at_all(t: FakeTime) -> None:
    rl = limiter(t, limit=3)
    rl.acquire(2)
    rl.release()  # one call that took two slots ended at 0: they are free again at 10

    with pytest.raises(BudgetExhausted) as refused:
        rl.acquire(2, max_wait=1.0)

    assert refused.value.wait_seconds == pytest.approx(10.0)
    assert rl.remaining() == 1, "the refused call took nothing"
    assert rl.acquire(2) == pytest.approx(10.0)


def test_a_new_configured_limit_starts_a_fresh_window(t: FakeTime) -> None:
    store = MemoryBuckets(t.clock)
    old = RollingWindowBudget(2, 10.0, store=store, clock=t.clock, name="hubspot")
    for _ in range(2):
        with old.slot():
            pass

    new = RollingWindowBudget(5, 10.0, store=store, clock=t.clock, name="hubspot")

    assert new.remaining() == 5


def test_threads_share_one_allowance() -> None:
    rl = RollingWindowBudget(5, 0.3)
    started: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            with rl.slot(), lock:
                started.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    started.sort()
    assert len(started) == 12
    for i, moment in enumerate(started):
        assert sum(1 for s in started[i:] if s < moment + 0.3) <= 5


# ---- the adapter under HubSpot's windows -------------------------------------------------------


def unassociated(number: int) -> RecordWrite:
    return sms(contact_phone=f"+1415555{number:04d}", contact_rule=rule(on_no_match="unassociated"))


def test_one_call_per_message_stays_inside_the_window(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    hs.rate_limit = (5, 0.4)
    adapter: HubSpotAdapter = make_adapter(hs, cache, rate_limit=(5, 0.4))

    started = time.monotonic()
    results = [adapter.write([sms()])[0] for _ in range(8)]
    elapsed = time.monotonic() - started

    assert all(r.error is None for r in results)
    assert hs.rate_limited == 0
    assert adapter.stats.calls >= 11  # key property, search, contact, then one per message
    assert elapsed >= 0.8  # two full windows were needed


def test_another_client_spending_the_allowance_slows_us_down_before_any_429(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    hs.rate_limit = (6, 0.5)
    other = hs.client().crm.properties.core_api
    for _ in range(5):  # another process with the same token spends most of the window
        other.get_all("communications")
    adapter = make_adapter(hs, cache, rate_limit=(6, 0.5))

    results = [adapter.write([sms()])[0] for _ in range(6)]

    assert all(r.error is None for r in results)
    assert hs.rate_limited == 0


def test_searches_keep_to_the_search_rate(hs: FakeHubSpot, cache: SqlContactCache) -> None:
    hs.search_rate_limit = (4, 1.0)  # HubSpot: about 4 searches per second
    adapter = make_adapter(hs, cache, search_rate=4.0)

    results = [adapter.write([unassociated(n)])[0] for n in range(6)]

    assert all(r.error is None for r in results)
    assert hs.rate_limited == 0
