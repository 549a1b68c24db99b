"""Ingest benchmark: Aircall events posted to a running service over loopback.

Prints events/s, p50/p99 latency to the 2xx and the server's CPU time per event (user + system,
read from the server process) for SQLite (and PostgreSQL when CONNECTOR_TEST_DATABASE_URL is
set), beside the same server answering an endpoint that only parses the JSON, so the cost of
keeping an event shows as a ratio and as milliseconds of CPU.

    python -m tests.benchmarks.bench_ingest [--events 5000] [--clients 32] [--media 0]
        [--no-postgres]

The load generator is a small keep-alive HTTP/1.1 client on asyncio in its own process, so it
costs far less CPU than the server it measures (both share these 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from fastapi import Request

from tests.providers.factories import AIRCALL_TOKEN, aircall_event, aircall_media


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(database_url: str, data_dir: str, port: int) -> None:
    import uvicorn

    from connector import bootstrap
    from connector.api.app import create_app
    from connector.config import load_settings
    from connector.logs import configure
    from connector.store import migrate

    configure("WARNING")
    settings = load_settings(
        _env_file=None,
        data_dir=Path(data_dir),
        database_url=database_url,
        aircall_webhook_token=AIRCALL_TOKEN,
        hubspot_access_token="pat-benchmark",
    )
    connector = bootstrap.build(settings)
    if not connector.database.is_sqlite:
        migrate.upgrade(connector.database)
    app = create_app(connector, embedded_worker=False)

    @app.post("/bench/parse")
    async def parse_only(request: Request) -> dict[str, str]:
        json.loads(await request.body())
        return {"status": "parsed"}

    gc.freeze()  # as `mms-connector serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _bodies(count: int, media_count: int) -> list[bytes]:
    """Aircall "message received" bodies, each with `media_count` attachments (a row and a
    capture job each)."""
    run = uuid.uuid4().hex[:8]
    media = [aircall_media(f"IMG_{index}.jpg") for index in range(media_count)]
    return [
        json.dumps(aircall_event(data={"id": f"{run}-{index}", "media_details": media})).encode()
        for index in range(count)
    ]


async def _client(
    port: int, path: str, bodies: list[bytes], latencies: list[float], statuses: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for body in bodies:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        statuses.append(int(status_line.split()[1]))
        if statuses[-1] >= 300 and len(statuses) < 3:
            print("unexpected answer:", status_line, file=sys.stderr)
    writer.close()


def _load(
    port: int, path: str, events: int, clients: int, server: psutil.Process, media: int
) -> dict[str, Any]:
    bodies = _bodies(events, media)
    latencies: list[float] = []
    statuses: list[int] = []

    async def run() -> float:
        shares = [bodies[i::clients] for i in range(clients)]
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, path, share, latencies, statuses) for share in shares))
        return time.perf_counter() - started

    cpu_before = _cpu_seconds(server)
    elapsed = asyncio.run(run())
    cpu = _cpu_seconds(server) - cpu_before
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "events": events,
        "ok": sum(1 for s in statuses if 200 <= s < 300),
        "events_per_s": events / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "cpu_ms": cpu / events * 1000,
    }


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU the server process has used so far, its threads included (the writers are threads)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def bench(label: str, database_url: str, events: int, clients: int, media: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        if not database_url:
            database_url = f"sqlite:///{data_dir}/bench.db"
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(database_url, data_dir, port), daemon=True
        )
        server.start()
        try:
            _wait_for(port)
            process = psutil.Process(server.pid)
            _load(port, "/webhooks/aircall", min(500, events), clients, process, media)  # warm-up
            _load(port, "/bench/parse", min(500, events), clients, process, media)
            ingest = _load(port, "/webhooks/aircall", events, clients, process, media)
            parse = _load(port, "/bench/parse", events, clients, process, media)
        finally:
            server.terminate()
            server.join(10)
    ratio = parse["events_per_s"] / ingest["events_per_s"]
    for name, result in (("ingest", ingest), ("parse-only", parse)):
        print(
            f"{label:<10} {name:<10} {result['events_per_s']:8.0f} events/s  "
            f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
            f"CPU {result['cpu_ms']:5.2f} ms/event  2xx {result['ok']}/{result['events']}"
        )
    print(f"{label:<10} overhead of keeping an event vs parsing only: x{ratio:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--media", type=int, default=0, help="attachments per event")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")
    bench("sqlite", "", args.events, args.clients, args.media)
    postgres = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
    if postgres and not args.no_postgres:
        bench("postgresql", _fresh_postgres_schema(postgres), args.events, args.clients, args.media)


def _fresh_postgres_schema(url: str) -> str:
    from sqlalchemy import create_engine, text

    from connector.store.db import normalize_url

    base = normalize_url(url)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    main()
