"""Sync benchmark: inbound MMS posted to a running connector, synced into the HubSpot fake at
HubSpot's real limits, until every job is done.

    python -m tests.benchmarks.bench_sync [--messages 5000] [--contacts 500]
        [--db sqlite,pg1,pg2,pg4] [--clients 32] [--media-bytes 20000] [--timeout 3600]

For each `--db` entry a fresh world: the HubSpot fake (`tests/fakes/hubspot.py`, a loopback
server in a thread of this process) at 100 requests per 10 s and 4 searches per second (429s in
HubSpot's shape past them), a loopback media host, and the connector as real processes:
`mms-connector serve` with its embedded worker on SQLite (`sqlite`), or `serve --no-worker`
plus N `mms-connector worker` processes on PostgreSQL (`pgN`, with CONNECTOR_TEST_DATABASE_URL
set). The mappings are the repository's `mappings/` (company association on), with a lines file
naming the benchmark's line and its HubSpot owner.

Four contacts in five exist in the portal (phones typed in assorted formats, most with a
company); the others are unknown, so the connector creates them. Messages are Aircall
"message.received" webhooks with one image each, posted by 32 keep-alive clients as fast as
the service takes them.

Figures per run: wall time from the first webhook to the last job finished; the floor (every
CRM call made, at HubSpot's 10 per second) and wall / floor; CRM calls per message; 429s; dead
jobs; duplicate records in the fake (two communications with one message key, two contacts with
one phone); peak RSS of each connector process. The goals (issue "Sync under real load"): no dead
jobs, duplicates or 429s, <= 0.05 calls per message, wall <= 1.2 x floor, 4 workers never slower
than 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import psutil
from sqlalchemy import func, select

from connector.core import phone
from connector.store import migrate
from connector.store.db import Database
from connector.store.queue import JobState
from connector.store.tables import jobs, messages
from tests.benchmarks.bench_capture import _MediaHandler
from tests.benchmarks.bench_hubspot import FORMATS
from tests.benchmarks.bench_ingest import _client, _free_port, _fresh_postgres_schema, _wait_for
from tests.fakes.hubspot import FakeHubSpot
from tests.providers.factories import AIRCALL_TOKEN, aircall_event, aircall_media, aircall_number

REPO = Path(__file__).resolve().parents[2]
LINE = "+14155550100"
OWNER_ID = "9100"
KEY_FIELD = "mms_message_key"  # as in mappings/hubspot.yaml
THREAD_FIELD = "mms_thread_key"
LIMIT, WINDOW, SEARCHES_PER_SECOND = 100, 10.0, 4.0
LINES_YAML = f"""lines:
  - number: "{LINE}"
    provider: aircall
    label: Benchmark line
    mms_capable: true
    provider_line_id: "1284757"
    owners:
      hubspot: "{OWNER_ID}"
"""


@dataclass
class Figures:
    name: str
    messages: int
    wall: float
    calls: int
    rate_limited: int
    dead: int
    duplicates: int
    records: int
    peak_rss_mb: dict[str, float]

    @property
    def floor(self) -> float:
        return self.calls / (LIMIT / WINDOW)

    def row(self) -> str:
        rss = ", ".join(f"{name} {mb:.0f}" for name, mb in self.peak_rss_mb.items())
        ratio = self.wall / self.floor if self.floor else float("inf")
        return (
            f"{self.name:<7} {self.messages:>6} {self.wall:>8.1f} {self.floor:>8.1f} "
            f"{ratio:>6.2f} {self.calls:>6} {self.calls / self.messages:>9.3f} "
            f"{self.rate_limited:>5} {self.dead:>5} {self.duplicates:>5} {self.records:>7}  {rss}"
        )


HEADER = (
    f"{'run':<7} {'msgs':>6} {'wall s':>8} {'floor s':>8} {'x floor':>6} {'calls':>6} "
    f"{'calls/msg':>9} {'429s':>5} {'dead':>5} {'dups':>5} {'records':>7}  peak RSS MB"
)


# ---- the world: numbers, the portal, the media host -------------------------------------------


def numbers(contacts: int) -> list[str]:
    return [f"+1415666{i:04d}" for i in range(contacts)]


def portal(contacts: int) -> FakeHubSpot:
    """The HubSpot fake at HubSpot's limits, seeded with 4 in 5 of the contacts."""
    hs = FakeHubSpot(
        rate_limit=(LIMIT, WINDOW),
        search_rate_limit=(int(SEARCHES_PER_SECOND), 1.0),
        owners=[{"id": OWNER_ID, "email": "owner@example.test"}],
    ).start()
    # What `mms-connector mappings setup --crm hubspot` creates.
    hs.define_property("communications", KEY_FIELD, has_unique_value=True)
    hs.define_property("communications", THREAD_FIELD)
    company = ""
    for i, number in enumerate(numbers(contacts)):
        if i % 5 == 4:
            continue  # unknown: the connector creates the contact
        field = "mobilephone" if i % 7 == 3 else "phone"
        contact = hs.add_contact({field: FORMATS[i % len(FORMATS)](number), "firstname": f"C{i}"})
        if i % 10 == 0:
            company = hs.add_company({"name": f"Company {i // 10}"})
        if i % 10 != 9:
            hs.associate("contacts", contact, "companies", company)
    hs.reset_calls()
    return hs


@contextmanager
def media_host() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MediaHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def bodies(count: int, contacts: int, media_port: int, media_bytes: int) -> list[bytes]:
    import json

    rng = random.Random(7)
    phones = numbers(contacts)
    run = f"{rng.getrandbits(32):08x}"
    out = []
    for i in range(count):
        number = phones[i % contacts] if i < contacts else rng.choice(phones)
        media = aircall_media(
            f"IMG_{i}.png",
            "image/png",
            f"http://127.0.0.1:{media_port}/media/{i}/{media_bytes}.png",
        )
        minute, second = divmod(i, 60)
        data = {
            "id": f"bench-{run}-{i:06d}",
            "body": f"Inbound MMS {i}",
            "external_number": number,
            "raw_digits": number,
            "number": aircall_number(e164_digits=LINE, digits=LINE),
            "media_details": [media],
            "created_at": f"2026-05-01T{10 + minute // 60:02d}:{minute % 60:02d}:{second:02d}Z",
        }
        out.append(json.dumps(aircall_event(data=data)).encode())
    return out


# ---- the connector as processes ---------------------------------------------------------------


def _environment(home: Path, database_url: str, hs: FakeHubSpot) -> dict[str, str]:
    mappings = home / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    (mappings / "lines.yaml").write_text(LINES_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(
        CONNECTOR_DATA_DIR=str(home / "var"),
        CONNECTOR_DATABASE_URL=database_url,
        CONNECTOR_MAPPINGS_DIR=str(mappings),
        CONNECTOR_PUBLIC_URL="https://connector.example.test",
        CONNECTOR_AIRCALL_WEBHOOK_TOKEN=AIRCALL_TOKEN,
        CONNECTOR_HUBSPOT_ACCESS_TOKEN=hs.token,
        CONNECTOR_HUBSPOT_BASE_URL=hs.url,
        CONNECTOR_ALLOW_PRIVATE_MEDIA_URLS="true",
        CONNECTOR_LOG_LEVEL="WARNING",
    )
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from connector.cli import app; app()", *args]


class Service:
    """`serve` (embedded worker, or none) plus `workers` worker processes."""

    def __init__(self, home: Path, env: dict[str, str], workers: int) -> None:
        self.port = _free_port()
        self.logs = home / "logs"
        self.logs.mkdir()
        embedded = [] if workers == 0 else ["--no-worker"]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._start("serve", _command("serve", "--port", str(self.port), *embedded), home, env)
        for n in range(workers):
            self._start(f"worker{n + 1}", _command("worker"), home, env)
        self.peak_rss: dict[str, float] = dict.fromkeys(self.processes, 0.0)

    def _start(self, name: str, command: list[str], home: Path, env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def sample_rss(self) -> None:
        """The kernel's high-water mark of each process (VmHWM), else the largest RSS seen."""
        for name, process in self.processes.items():
            try:
                info = psutil.Process(process.pid)
                rss = info.memory_info().rss
                status = Path(f"/proc/{process.pid}/status")
                if status.exists():
                    for line in status.read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            rss = max(rss, int(line.split()[1]) * 1024)
            except (psutil.Error, OSError):
                continue
            self.peak_rss[name] = max(self.peak_rss[name], rss / 2**20)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text()[-3000:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---- one run ----------------------------------------------------------------------------------


def post_all(port: int, payloads: list[bytes], clients: int) -> list[int]:
    latencies: list[float] = []
    statuses: list[int] = []

    async def run() -> None:
        shares = [payloads[i::clients] for i in range(clients)]
        await asyncio.gather(
            *(_client(port, "/webhooks/aircall", share, latencies, statuses) for share in shares)
        )

    asyncio.run(run())
    return statuses


def wait_until_done(
    database: Database, service: Service, expected: int, timeout: float
) -> datetime:
    """When the last job finished, once all messages are kept and no job is left to run."""
    deadline = time.monotonic() + timeout
    unfinished = jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value])
    while True:
        service.check_alive()
        service.sample_rss()
        with database.read() as conn:
            kept = conn.execute(select(func.count()).select_from(messages)).scalar_one()
            left = conn.execute(select(func.count()).where(unfinished)).scalar_one()
            if kept >= expected and left == 0:
                last = conn.execute(select(func.max(jobs.c.updated_at))).scalar_one()
                return last or datetime.now(UTC)
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {kept}/{expected} messages kept, {left} jobs left")
        time.sleep(0.5)


def duplicates(hs: FakeHubSpot) -> int:
    keys = Counter(props.get(KEY_FIELD) for props in hs.communications.values())
    extra_records = sum(n - 1 for key, n in keys.items() if key)
    phones = Counter(
        phone.try_normalize(props.get("phone") or props.get("mobilephone"), "US")
        for props in hs.contacts.values()
    )
    extra_contacts = sum(n - 1 for number, n in phones.items() if number)
    return extra_records + extra_contacts


def run(name: str, args: argparse.Namespace) -> Figures:
    workers = 0 if name == "sqlite" else int(name.removeprefix("pg"))
    with tempfile.TemporaryDirectory() as tmp, media_host() as media_port:
        home = Path(tmp)
        if name == "sqlite":
            database_url = f"sqlite:///{home / 'var' / 'connector.db'}"
        else:
            postgres = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
            if not postgres:
                raise SystemExit(f"{name}: set CONNECTOR_TEST_DATABASE_URL to run on PostgreSQL")
            database_url = _fresh_postgres_schema(postgres)
        database = Database(database_url)
        migrate.upgrade(database)
        hs = portal(args.contacts)
        service = Service(home, _environment(home, database_url, hs), workers)
        try:
            _wait_for(service.port)
            payloads = bodies(args.messages, args.contacts, media_port, args.media_bytes)
            started = datetime.now(UTC)
            statuses = post_all(service.port, payloads, args.clients)
            refused = sum(1 for status in statuses if not 200 <= status < 300)
            if refused:
                print(f"{name}: {refused} webhooks answered non-2xx", file=sys.stderr)
            finished = wait_until_done(database, service, args.messages, args.timeout)
            service.sample_rss()
            with database.read() as conn:
                dead = conn.execute(
                    select(func.count()).where(jobs.c.state == JobState.DEAD.value)
                ).scalar_one()
            if args.breakdown:
                print(f"{name}: requests by endpoint: {endpoints(hs)}", file=sys.stderr)
            return Figures(
                name,
                args.messages,
                (finished - started).total_seconds(),
                len(hs.calls),
                hs.rate_limited,
                int(dead),
                duplicates(hs),
                len(hs.communications),
                dict(service.peak_rss),
            )
        finally:
            service.stop()
            hs.stop()
            database.dispose()


def endpoints(hs: FakeHubSpot) -> str:
    """What the calls were spent on, ids folded: where to look when calls per message grow."""
    counts = Counter(
        f"{call.method} {re.sub(r'/[0-9]+(?=/|$)', '/{id}', call.path)}" for call in hs.calls
    )
    return ", ".join(f"{path} x{n}" for path, n in counts.most_common())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--db", default="sqlite,pg1,pg2,pg4", help="sqlite and/or pgN entries")
    parser.add_argument("--clients", type=int, default=32, help="concurrent webhook senders")
    parser.add_argument("--media-bytes", type=int, default=20_000, help="size of each image")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument(
        "--breakdown", action="store_true", help="print the HubSpot requests by endpoint"
    )
    args = parser.parse_args(argv)
    runs = [entry.strip() for entry in args.db.split(",") if entry.strip()]
    for entry in runs:
        if entry != "sqlite" and not (entry.startswith("pg") and entry[2:].isdigit()):
            parser.error(f"--db: {entry!r} is neither sqlite nor pgN (N worker processes)")
    print(
        f"{args.messages} inbound MMS over {args.contacts} contacts (1 in 5 unknown), "
        f"HubSpot fake at {LIMIT} requests / {WINDOW:g} s and {SEARCHES_PER_SECOND:g} searches/s, "
        f"default mappings (company association on), {os.cpu_count()} cores"
    )
    print(HEADER)
    for entry in runs:
        print(run(entry, args).row(), flush=True)
    print(
        "wall: first webhook to last job finished. floor: CRM calls made / 10 per s. calls: "
        "every request HubSpot received, 429s included. dups: extra communications with one "
        "message key plus extra contacts with one phone. records: communications in the fake "
        "(one per message when all went well). RSS: serve (with the embedded worker "
        "on sqlite) and each worker process."
    )


if __name__ == "__main__":
    main()
