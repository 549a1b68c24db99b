"""The per-minute send budget (ratelimit.py) and the shared reading of provider wait headers."""

from __future__ import annotations

import threading
from email.utils import formatdate

import httpx
import pytest
import respx

from connector.providers.cloudtalk_send import CloudTalkSender
from connector.providers.ratelimit import BudgetExhausted, SendRate
from connector.providers.sending import (
    MAX_RETRY_AFTER,
    reset_header_seconds,
    retry_after_seconds,
    safe_reason,
)
from tests.providers.factories import FakeClock, outbound_message

NOW = 1_777_629_600.0


def limiter(per_minute: float, clock: FakeClock, **options: int) -> SendRate:
    return SendRate(per_minute, clock=clock.monotonic, sleep=clock.sleep, **options)


def test_the_first_request_goes_at_once_and_the_next_are_evenly_spaced():
    clock = FakeClock()
    budget = limiter(120, clock)

    waits = [budget.acquire() for _ in range(4)]

    assert waits == [0.0, 0.5, 0.5, 0.5]
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_requests_already_spaced_out_never_wait():
    clock = FakeClock()
    budget = limiter(60, clock)

    for _ in range(3):
        budget.acquire()
        clock.now += 5

    assert clock.sleeps == []


def test_idle_time_is_not_saved_up_beyond_the_burst():
    clock = FakeClock()
    budget = limiter(60, clock)
    budget.acquire()
    clock.now += 600

    budget.acquire()
    budget.acquire()

    assert clock.sleeps == [1.0]


def test_a_burst_lets_that_many_go_back_to_back_then_spaces_the_rest():
    clock = FakeClock()
    budget = limiter(60, clock, burst=3)

    for _ in range(5):
        budget.acquire()

    assert clock.sleeps == [1.0, 1.0]


def test_no_sixty_second_window_holds_more_than_the_per_minute_budget():
    clock = FakeClock()
    budget = limiter(60, clock)
    times = []
    for _ in range(200):
        budget.acquire()
        times.append(clock.now)

    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= 60


def test_threads_sharing_a_limiter_each_get_their_own_slot():
    frozen = 1000.0
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    budget = SendRate(60, clock=lambda: frozen, sleep=record)
    threads = [threading.Thread(target=budget.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == [float(n) for n in range(1, 8)], "one at once, then 1 s apart"


def test_a_wait_longer_than_max_wait_is_refused_and_takes_no_slot():
    clock = FakeClock()
    budget = limiter(6, clock)  # one every 10 s
    budget.acquire()

    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=5)

    assert caught.value.wait_seconds == 10
    assert budget.acquire(max_wait=10) == 10, "the refused call reserved nothing"


def test_defer_pauses_every_caller_until_the_provider_budget_is_back():
    clock = FakeClock()
    budget = limiter(60, clock, burst=5)
    budget.acquire()

    budget.defer(30)

    assert budget.acquire() == 30
    assert budget.acquire() == 1.0


def test_defer_never_shortens_a_pause_already_in_place():
    clock = FakeClock()
    budget = limiter(60, clock)
    budget.defer(30)
    budget.defer(5)

    assert budget.acquire() == 30


def test_an_answer_saying_none_is_left_pauses_until_the_reset():
    clock = FakeClock()
    budget = SendRate(
        60,
        clock=clock.monotonic,
        sleep=clock.sleep,
        remaining_headers=("X-AircallApi-Remaining",),
        reset=lambda headers: float(headers["X-AircallApi-Reset"]),
    )
    budget.acquire()

    budget.observe(httpx.Headers({"x-aircallapi-remaining": "0", "X-AircallApi-Reset": "42"}))

    assert budget.acquire() == 42


def test_an_answer_with_requests_left_changes_nothing():
    clock = FakeClock()
    budget = SendRate(
        60, clock=clock.monotonic, sleep=clock.sleep, remaining_headers=("X-AircallApi-Remaining",)
    )
    budget.acquire()
    clock.now += 1

    budget.observe({"X-AircallApi-Remaining": "7"})

    assert budget.acquire() == 0


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-5, 1), (60, 0)])
def test_a_limiter_needs_a_positive_rate_and_burst(per_minute: float, burst: int):
    with pytest.raises(ValueError):
        SendRate(per_minute, burst=burst)


def test_worker_threads_sharing_one_sender_stay_within_its_budget(respx_mock: respx.MockRouter):
    frozen = 1000.0
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    route = respx_mock.post("https://ct.example.test/api/sms/send.json").respond(
        200, json={"responseData": {"success": True, "data": {}}}
    )
    with CloudTalkSender(
        "id", "secret", "https://ct.example.test", clock=lambda: frozen, sleep=record
    ) as sender:
        threads = [
            threading.Thread(target=sender.send, args=(outbound_message(),)) for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert route.call_count == 5
    assert sorted(waits) == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (str(int(NOW) + 30), 30),
        (str(int(NOW * 1000) + 30_000), 30),
        ("45", 45),
        (str(int(NOW) - 10), 0),
        ("not a number", None),
        (str(int(NOW) + 86_400), MAX_RETRY_AFTER),
    ],
    ids=[
        "epoch seconds",
        "epoch milliseconds",
        "seconds from now",
        "a reset in the past means now",
        "garbage is ignored",
        "absurd waits are capped",
    ],
)
def test_reset_headers_are_read_in_whichever_unit_they_use(value: str, seconds: float | None):
    assert reset_header_seconds(value, lambda: NOW) == seconds


def test_retry_after_may_be_an_http_date():
    response = httpx.Response(429, headers={"Retry-After": formatdate(NOW + 90, usegmt=True)})

    assert retry_after_seconds(response, (), lambda: NOW) == 90


def test_retry_after_wins_over_the_provider_reset_header():
    response = httpx.Response(
        429, headers={"Retry-After": "5", "X-CloudTalkAPI-ResetTime": str(int(NOW) + 50)}
    )

    assert retry_after_seconds(response, ("X-CloudTalkAPI-ResetTime",), lambda: NOW) == 5


def test_reasons_shown_to_admins_mask_numbers_and_stay_short():
    reason = safe_reason("+1 555-123-4567 refused: " + "x" * 1000)

    assert "555-123" not in reason
    assert reason.startswith("+1********67 refused")
    assert len(reason) <= 300
