"""HubSpot sync benchmark: how many HubSpot calls the adapter spends per message, how fast it
goes, and how many 429s it meets, beside a naive one-call-per-message sync.

    python -m tests.benchmarks.bench_hubspot [--messages 1000] [--contacts 50] [--workers 4]
        [--latency 0.1] [--limit 100] [--window 10] [--naive-messages 1000] [--skip-naive]

Every run talks to a fresh `FakeHubSpot` with `--latency` seconds added to each request, a
rolling window of `--limit` requests per `--window` seconds (429 past it, no `Retry-After`, as
HubSpot does not promise one) and HubSpot's 4 searches per second. 40 of the contacts exist with
their numbers typed in assorted formats; the other 10 are created on first contact.

The sync is simulated the way `connector/sync/crm_sync.py` drives an adapter: `--workers`
threads each take up to 100 pending messages and call `adapter.write` once; a record refused
with a transient error comes back to the queue after its `retry_after`. Scenarios:

* bursts: messages arrive in bursts of 1-200 every half second (the target: <= 0.05 calls per
  message, no 429 beyond the first);
* backlog: all messages are pending at once (how fast a queue drains);
* naive SDK sync: one `create` per message (a search per new number), sleeping 1 s on a 429;
* one message per write: the adapter fed one record per call, so the rate limit is the
  bottleneck (the target: >= 90 % of the window's ceiling, no 429).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.core.errors import Transient
from connector.crm.base import ContactRule, RecordWrite
from connector.crm.hubspot import HubSpotAdapter
from connector.store import migrate
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.fakes.hubspot import FakeHubSpot

KEY_FIELD = "mms_message_key"
THREAD_FIELD = "mms_thread_key"
BATCH = 100
RULE = ContactRule(
    objects=("contacts",),
    phone_fields={"contacts": ("phone", "mobilephone")},
    on_no_match="create",
    create_fields={"firstname": "MMS", "lastname": "contact"},
)
FORMATS: list[Callable[[str], str]] = [
    lambda n: f"({n[2:5]}) {n[5:8]}-{n[8:]}",
    lambda n: f"+1 {n[2:5]}-{n[5:8]}-{n[8:]}",
    lambda n: f"{n[2:5]}.{n[5:8]}.{n[8:]}",
    lambda n: n,
    lambda n: f"1 {n[2:5]} {n[5:8]} {n[8:]}",
]


@dataclass
class Figures:
    name: str
    messages: int
    seconds: float
    calls: int
    rate_limited: int
    write_calls: int
    limit: int
    window: float

    @property
    def calls_per_message(self) -> float:
        return self.calls / self.messages

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def ceiling_share(self) -> float | None:
        """Calls HubSpot accepted per second, as a share of what the window allows; only for
        runs long enough for the window to be the bottleneck (two windows or more)."""
        if self.seconds < 2 * self.window:
            return None
        return ((self.calls - self.rate_limited) / self.seconds) / (self.limit / self.window)

    def row(self) -> str:
        share = self.ceiling_share
        ceiling = f"{share:>8.0%}" if share is not None else f"{'-':>8}"
        return (
            f"{self.name:<26} {self.messages:>6} {self.calls:>6} {self.calls_per_message:>9.3f} "
            f"{self.messages_per_second:>9.1f} {ceiling} {self.rate_limited:>5} "
            f"{self.write_calls:>7} {self.seconds:>7.1f}"
        )


HEADER = (
    f"{'scenario':<26} {'msgs':>6} {'calls':>6} {'calls/msg':>9} {'msgs/s':>9} "
    f"{'ceiling':>8} {'429s':>5} {'writes':>7} {'seconds':>7}"
)


# ---- the world -----------------------------------------------------------------------------


def numbers(contacts: int) -> list[str]:
    return [f"+1415555{100 + i:04d}" for i in range(contacts)]


@contextmanager
def portal(args: argparse.Namespace, *, unique_key: bool = True) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(
        latency=args.latency,
        rate_limit=(args.limit, args.window),
        search_rate_limit=(4, 1.0),
    ) as hs:
        hs.define_property("communications", KEY_FIELD, has_unique_value=unique_key)
        hs.define_property("communications", THREAD_FIELD)
        for i, number in enumerate(numbers(args.contacts)):
            if i % 5 == 4:
                continue  # a fifth of the numbers have no contact yet
            field = "mobilephone" if i % 7 == 3 else "phone"
            hs.add_contact({field: FORMATS[i % len(FORMATS)](number), "firstname": f"C{i}"})
        hs.reset_calls()
        yield hs


@contextmanager
def contact_cache() -> Iterator[SqlContactCache]:
    with tempfile.TemporaryDirectory() as directory:
        database = Database(f"sqlite:///{Path(directory) / 'bench.db'}")
        migrate.upgrade(database)
        try:
            yield SqlContactCache(database)
        finally:
            database.dispose()


def messages(args: argparse.Namespace, count: int, seed: int = 7) -> list[RecordWrite]:
    rng = random.Random(seed)
    phones = numbers(args.contacts)
    records = []
    for i in range(count):
        number = rng.choice(phones)
        records.append(
            RecordWrite(
                key=f"aircall:bench-{seed}-{i:06d}",
                thread_key=f"aircall:{number}",
                object_name="communications",
                fields={
                    "hs_communication_body": f"Inbound MMS {i}: see the photo (1 image)",
                    "hs_timestamp": f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                },
                contact_phone=number,
                contact_rule=RULE,
                key_field=KEY_FIELD,
                thread_field=THREAD_FIELD,
            )
        )
    return records


def bursts(records: list[RecordWrite], seed: int = 11) -> list[tuple[float, list[RecordWrite]]]:
    """(arrival second, messages) with bursts of 1-200 messages every half second."""
    rng = random.Random(seed)
    schedule, start, at = [], 0, 0.0
    while start < len(records):
        size = rng.randint(1, 200)
        schedule.append((at, records[start : start + size]))
        start += size
        at += 0.5
    return schedule


# ---- the simulated sync ----------------------------------------------------------------------


class Queue:
    """Pending records the workers take up to `BATCH` at a time; retries come back later."""

    def __init__(self, total: int) -> None:
        self._ready: deque[RecordWrite] = deque()
        self._later: list[tuple[float, RecordWrite]] = []
        self._lock = threading.Lock()
        self._left = total
        self.done = threading.Event()
        if total == 0:
            self.done.set()

    def add(self, records: list[RecordWrite]) -> None:
        with self._lock:
            self._ready.extend(records)

    def take(self) -> list[RecordWrite]:
        with self._lock:
            now = time.monotonic()
            due = [r for at, r in self._later if at <= now]
            self._later = [(at, r) for at, r in self._later if at > now]
            self._ready.extend(due)
            return [self._ready.popleft() for _ in range(min(BATCH, len(self._ready)))]

    def settle(self, record: RecordWrite, retry_after: float | None) -> None:
        with self._lock:
            if retry_after is not None:
                self._later.append((time.monotonic() + retry_after, record))
                return
            self._left -= 1
            if self._left == 0:
                self.done.set()


def run_sync(
    write: Callable[[list[RecordWrite]], list[Any]],
    schedule: list[tuple[float, list[RecordWrite]]],
    workers: int,
    per_call: int = BATCH,
) -> tuple[float, int]:
    """Feed the schedule to `workers` threads calling `write`; (seconds, write calls)."""
    queue = Queue(sum(len(records) for _, records in schedule))
    calls = 0
    calls_lock = threading.Lock()

    def worker() -> None:
        nonlocal calls
        while not queue.done.is_set():
            taken = queue.take()
            if not taken:
                time.sleep(0.005)
                continue
            for start in range(0, len(taken), per_call):
                chunk = taken[start : start + per_call]
                results = write(chunk)
                with calls_lock:
                    calls += 1
                for record, result in zip(chunk, results, strict=True):
                    error = getattr(result, "error", None)
                    if isinstance(error, Transient):
                        queue.settle(record, error.retry_after or 1.0)
                    elif error is not None:
                        raise SystemExit(f"benchmark record failed: {error.reason}")
                    else:
                        queue.settle(record, None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for at, records in schedule:
        delay = started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        queue.add(records)
    queue.done.wait()
    elapsed = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=5)
    return elapsed, calls


# ---- scenarios -------------------------------------------------------------------------------


def adapter_run(
    args: argparse.Namespace,
    name: str,
    schedule: Callable[[list[RecordWrite]], list[tuple[float, list[RecordWrite]]]],
    count: int,
    *,
    per_call: int = BATCH,
    unique_key: bool = True,
) -> Figures:
    with portal(args, unique_key=unique_key) as hs, contact_cache() as cache:
        adapter = HubSpotAdapter(
            hs.token, hs.url, cache, rate_limit=(args.limit, args.window), search_rate=4.0
        )
        records = messages(args, count)
        seconds, writes = run_sync(adapter.write, schedule(records), args.workers, per_call)
        adapter.close()
        duplicates = len(hs.communications) - len({r.key for r in records})
        if duplicates:
            raise SystemExit(f"{name}: {duplicates} duplicate records")
        return Figures(
            name, count, seconds, len(hs.calls), hs.rate_limited, writes, args.limit, args.window
        )


def naive_run(args: argparse.Namespace, count: int) -> Figures:
    """One SDK `create` per message, contacts searched once per number, 1 s sleep per 429."""
    from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput
    from hubspot.crm.objects.communications import (
        AssociationSpec,
        PublicAssociationsForObject,
        PublicObjectId,
        SimplePublicObjectInputForCreate,
    )

    with portal(args) as hs:
        client = hs.client()
        search = client.crm.contacts.search_api
        contacts_api = client.crm.contacts.basic_api
        comms = client.crm.objects.communications.basic_api
        known: dict[str, str] = {}
        lock = threading.Lock()

        def patiently(call: Callable[[], Any]) -> Any:
            while True:
                try:
                    return call()
                except Exception as exc:
                    if getattr(exc, "status", None) != 429:
                        raise
                    time.sleep(1.0)

        def contact_of(number: str) -> str:
            with lock:
                if number in known:
                    return known[number]
                groups = [
                    FilterGroup(filters=[Filter(property_name=p, operator="EQ", value=number)])
                    for p in ("phone", "mobilephone")
                ]
                found = patiently(
                    lambda: search.do_search(
                        public_object_search_request=PublicObjectSearchRequest(
                            filter_groups=groups, limit=1
                        )
                    )
                )
                if found.results:
                    known[number] = found.results[0].id
                else:
                    created = patiently(
                        lambda: contacts_api.create(ContactInput(properties={"phone": number}))
                    )
                    known[number] = created.id
                return known[number]

        def write(chunk: list[RecordWrite]) -> list[None]:
            for record in chunk:
                spec = AssociationSpec(
                    association_category="HUBSPOT_DEFINED", association_type_id=81
                )
                to = PublicAssociationsForObject(
                    to=PublicObjectId(id=contact_of(record.contact_phone)), types=[spec]
                )
                properties = {
                    "hs_communication_channel_type": "SMS",
                    "hs_communication_logged_from": "CRM",
                    KEY_FIELD: record.key,
                    **record.fields,
                }
                patiently(
                    lambda p=properties, a=to: comms.create(
                        SimplePublicObjectInputForCreate(properties=p, associations=[a])
                    )
                )
            return [None] * len(chunk)

        seconds, _ = run_sync(write, [(0.0, messages(args, count))], args.workers, per_call=1)
        return Figures(
            "naive SDK, 1 call/message",
            count,
            seconds,
            len(hs.calls),
            hs.rate_limited,
            count,
            args.limit,
            args.window,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--naive-messages", type=int, default=1000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    from connector.logs import configure

    configure("ERROR")
    print(
        f"{args.messages} messages, {args.contacts} contacts, {args.workers} workers, "
        f"{args.latency * 1000:.0f} ms latency, {args.limit} requests per {args.window:g} s, "
        "4 searches/s"
    )
    print(HEADER)
    runs = [
        lambda: adapter_run(args, "adapter, bursts", bursts, args.messages),
        lambda: adapter_run(
            args, "adapter, bursts, plain key", bursts, args.messages, unique_key=False
        ),
        lambda: adapter_run(args, "adapter, backlog", lambda r: [(0.0, r)], args.messages),
    ]
    if not args.skip_naive:
        runs += [
            lambda: naive_run(args, args.naive_messages),
            lambda: adapter_run(
                args,
                "adapter, 1 message/write",
                lambda r: [(0.0, r)],
                args.naive_messages,
                per_call=1,
            ),
        ]
    for run in runs:
        print(run().row(), flush=True)
    print(
        "calls: every request HubSpot received, 429s included. msgs/s: from the first arrival to "
        "the last record written (bursts: bound by the arrivals). ceiling: accepted calls per "
        "second as a share of the window's allowance, for runs of two windows or more. writes: "
        "adapter.write calls (naive: messages)."
    )


if __name__ == "__main__":
    main()
