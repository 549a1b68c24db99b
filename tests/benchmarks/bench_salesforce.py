"""Salesforce sync benchmark: API calls per message and messages/s, batched adapter vs naive.

    python -m tests.benchmarks.bench_salesforce [--messages 1000] [--contacts 50]
        [--latency 0.1] [--batch 200] [--naive-threads 4]

A burst of MMS across a few contacts (stored with formatted phone numbers) goes to
`FakeSalesforce` with a fixed latency per request, twice:

* the adapter, driven as the sync drives it: `adapter.write` with up to `--batch` records per
  call, one worker, a fresh SQLite contact cache (so the first batch pays the contact search);
* a naive sync: one single-record upsert per message (`sf.Task.upsert` by key), with every
  contact already known (which flatters it: a real naive sync would also search), on
  `--naive-threads` workers.

API calls are what the org counts against its daily allocation (token requests excluded). The
target is at most 0.02 calls per message in bursts.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_external_id

from connector.crm.base import RecordWrite
from connector.crm.salesforce import ClientCredentialsAuth
from connector.logs import configure
from connector.store import migrate
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.salesforce_kit import KEY, add_contact, make_adapter, prepare, task
from tests.fakes.salesforce import FakeSalesforce

API = r"/services/data/"


def burst(messages: int, contacts: int, seed: int = 7) -> list[RecordWrite]:
    """`messages` records over `contacts` numbers, in a shuffled (bursty) order."""
    numbers = [f"+1415555{n:04d}" for n in range(contacts)]
    order = [numbers[i % contacts] for i in range(messages)]
    random.Random(seed).shuffle(order)
    return [task(number, owner_id=None) for number in order]


def seed_contacts(fake: FakeSalesforce, contacts: int) -> dict[str, str]:
    return {f"+1415555{n:04d}": add_contact(fake, f"(415) 555-{n:04d}") for n in range(contacts)}


def run_adapter(fake: FakeSalesforce, records: list[RecordWrite], batch: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(database)
        auth = ClientCredentialsAuth(
            consumer_key=fake.consumer_key,
            consumer_secret=fake.consumer_secret,
            login_url=fake.instance_url,
        )
        adapter = make_adapter(fake, SqlContactCache(database), auth)
        before = fake.count(path_regex=API)
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            results = adapter.write(records[start : start + batch])
            failed = [r for r in results if r.error or not r.crm_id]
            if failed:
                raise SystemExit(f"adapter failed: {failed[0]}")
        elapsed = time.perf_counter() - started
        adapter.close()
        database.dispose()
    return fake.count(path_regex=API) - before, elapsed


def run_naive(
    fake: FakeSalesforce, records: list[RecordWrite], contacts: dict[str, str], threads: int
) -> tuple[int, float]:
    clients = [
        Salesforce(
            instance_url=fake.instance_url,
            session_id=fake.session_id,
            session=fake.session(),
            version="62.0",
        )
        for _ in range(threads)
    ]

    def one(index: int) -> None:
        record = records[index]
        body = {**record.fields, "WhoId": contacts[record.contact_phone], "Status": "Completed"}
        clients[index % threads].Task.upsert(format_external_id(KEY, "naive-" + record.key), body)

    before = fake.count(path_regex=API)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(records))))
    elapsed = time.perf_counter() - started
    return fake.count(path_regex=API) - before, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--batch", type=int, default=200, help="records per adapter.write")
    parser.add_argument("--naive-threads", type=int, default=4)
    args = parser.parse_args()
    configure("WARNING")

    with FakeSalesforce(latency=args.latency, daily_limit=(0, 1_000_000)) as fake:
        os.environ["REQUESTS_CA_BUNDLE"] = fake.ca_bundle_path  # the adapter's own session
        prepare(fake)
        contacts = seed_contacts(fake, args.contacts)
        records = burst(args.messages, args.contacts)

        calls, seconds = run_adapter(fake, records, args.batch)
        naive_calls, naive_seconds = run_naive(fake, records, contacts, args.naive_threads)

    n = len(records)
    print(
        f"{n} messages across {args.contacts} contacts, {args.latency * 1000:.0f} ms per request\n"
        f"{'':34}{'API calls':>10}{'calls/msg':>11}{'msg/s':>9}{'seconds':>9}\n"
        f"{'adapter (batches of ' + str(args.batch) + ', 1 worker)':34}"
        f"{calls:>10}{calls / n:>11.4f}{n / seconds:>9.1f}{seconds:>9.2f}\n"
        f"{'naive (1 upsert/msg, ' + str(args.naive_threads) + ' workers)':34}"
        f"{naive_calls:>10}{naive_calls / n:>11.4f}{n / naive_seconds:>9.1f}"
        f"{naive_seconds:>9.2f}\n"
        f"target <= 0.02 calls/message: {'met' if calls / n <= 0.02 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
