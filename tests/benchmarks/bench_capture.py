"""Capture benchmark: media downloaded from a loopback server through the real capture handler.

Serves N generated files (PNG magic, sizes spread evenly between --min-mb and --max-mb) from a
loopback HTTP server in its own process, records one received message per file, and runs the
worker's registered `capture_media` handler on all of them. Prints files/s, MB/s and the peak
RSS of the capturing process, then repeats with much larger files (the policy's limit raised to
let them through) to show that peak RSS does not grow with file size: media are streamed.

Each run goes to every store in --stores side by side: the folder store, and an S3 bucket on
moto's S3 server (its own process on loopback, dummy credentials; nothing leaves the machine),
through boto3 as in production. Files above 8 MB go up to S3 in parts.

    python -m tests.benchmarks.bench_capture [--files 200] [--min-mb 1] [--max-mb 5]
        [--large-files 40] [--large-min-mb 20] [--large-max-mb 50] [--concurrency 4]
        [--stores folder,s3]

Each run is a fresh process (spawned), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import socket
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes.s3 import S3_SECRET_KEY

MB = 1024 * 1024
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
_PATH = re.compile(r"^/media/(\d+)/(\d+)\.png$")


# -- the loopback media server (its own process) -----------------------------------------------


class _MediaHandler(BaseHTTPRequestHandler):
    """GET /media/<seed>/<size>.png: `size` bytes of PNG generated on the fly, 64 KB at a time."""

    protocol_version = "HTTP/1.1"
    block = PNG_HEAD + bytes(range(256)) * 256

    def do_GET(self) -> None:
        match = _PATH.match(self.path)
        if match is None:
            self.send_error(404)
            return
        size = int(match.group(2))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = self.block
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            self.wfile.write(piece)
            left -= len(piece)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _MediaHandler).serve_forever()


def _serve_s3(port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


def _dummy_aws_environment() -> None:
    """Credentials for the loopback S3 server only: no AWS_* of the caller's survives."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("media server did not start")


# -- one capture run (its own process) ---------------------------------------------------------


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sizes(count: int, low_mb: float, high_mb: float) -> list[int]:
    if count == 1:
        return [int(high_mb * MB)]
    step = (high_mb - low_mb) * MB / (count - 1)
    return [int(low_mb * MB + i * step) for i in range(count)]


def _run(
    port: int,
    sizes: list[int],
    concurrency: int,
    policy_limit: int | None,
    store: dict[str, str],
    out: Any,
) -> None:
    from sqlalchemy import func, select

    from connector import bootstrap
    from connector.config import load_settings
    from connector.core.model import Attachment
    from connector.logs import configure
    from connector.store import conversations
    from connector.store.conversations import AttachmentState
    from connector.store.tables import attachments
    from tests.factories import message, received_event, webhook_body

    configure("WARNING")
    with tempfile.TemporaryDirectory() as data_dir:
        overrides: dict[str, Any] = {}
        if policy_limit is not None:
            overrides["aircall_policy"] = {
                "max_file_bytes": {"image/png": policy_limit},
                "max_total_bytes": policy_limit,
            }
        settings = load_settings(
            _env_file=None,
            data_dir=Path(data_dir),
            allow_private_media_urls=True,
            worker_poll_seconds=0.01,
            **overrides,
            **store,
        )
        connector = bootstrap.build(settings)
        with connector.database.begin() as conn:
            for seed, size in enumerate(sizes):
                msg = message(
                    attachments=(
                        Attachment(
                            name=f"photo-{seed}.png",
                            source_url=f"http://127.0.0.1:{port}/media/{seed}/{size}.png",
                        ),
                    )
                )
                event = received_event(msg)
                conversations.record_event(conn, event, webhook_body(event), crms=())
        baseline_rss = _current_rss_mb()
        baseline_peak = _peak_rss_mb()

        worker = connector.worker(concurrency=concurrency)
        started = time.perf_counter()
        worker.start()
        try:
            while True:
                with connector.database.read() as conn:
                    pending = conn.execute(
                        select(func.count())
                        .select_from(attachments)
                        .where(attachments.c.state == AttachmentState.PENDING.value)
                    ).scalar_one()
                if pending == 0:
                    break
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
        with connector.database.read() as conn:
            states: dict[str, int] = dict(
                conn.execute(
                    select(attachments.c.state, func.count()).group_by(attachments.c.state)
                ).all()
            )
            stored_bytes = conn.execute(
                select(func.sum(attachments.c.size)).where(
                    attachments.c.state == AttachmentState.STORED.value
                )
            ).scalar_one()
        connector.close()
    out.put(
        {
            "files": len(sizes),
            "elapsed": elapsed,
            "bytes": int(stored_bytes or 0),
            "states": states,
            "baseline_rss_mb": baseline_rss,
            "baseline_peak_mb": baseline_peak,
            "peak_rss_mb": _peak_rss_mb(),
        }
    )


def bench(
    label: str,
    port: int,
    sizes: list[int],
    concurrency: int,
    policy_limit: int | None = None,
    store: dict[str, str] | None = None,
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(
        target=_run, args=(port, sizes, concurrency, policy_limit, store or {}, out)
    )
    process.start()
    result: dict[str, Any] = out.get(timeout=3600)
    process.join(60)
    mb = result["bytes"] / MB
    print(
        f"{label:<13} {result['files']:4d} files {min(sizes) / MB:5.1f}-{max(sizes) / MB:5.1f} MB "
        f"({mb:7.0f} MB): {result['files'] / result['elapsed']:6.1f} files/s "
        f"{mb / result['elapsed']:6.1f} MB/s | RSS before {result['baseline_rss_mb']:5.1f} MB, "
        f"peak {result['peak_rss_mb']:5.1f} MB "
        f"(+{result['peak_rss_mb'] - result['baseline_peak_mb']:4.1f} MB while capturing) "
        f"| {result['states']}"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--min-mb", type=float, default=1.0)
    parser.add_argument("--max-mb", type=float, default=5.0)
    parser.add_argument("--large-files", type=int, default=40)
    parser.add_argument("--large-min-mb", type=float, default=20.0)
    parser.add_argument("--large-max-mb", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--stores", default="folder,s3", help="folder, s3, or both")
    args = parser.parse_args(argv)
    print(
        f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, "
        f"worker threads: {args.concurrency}, SQLite, stores: {args.stores}"
    )
    _dummy_aws_environment()
    context = multiprocessing.get_context("spawn")
    port, s3_port = _free_port(), _free_port()
    servers = [
        context.Process(target=_serve, args=(port,), daemon=True),
        context.Process(target=_serve_s3, args=(s3_port,), daemon=True),
    ]
    for server in servers:
        server.start()
    try:
        _wait_for(port)
        _wait_for(s3_port)
        for name in args.stores.split(","):
            store = _store(name.strip(), s3_port)
            bench(
                f"{name} warm-up",
                port,
                _sizes(10, args.min_mb, args.max_mb),
                args.concurrency,
                store=store,
            )
            normal = bench(
                f"{name} normal",
                port,
                _sizes(args.files, args.min_mb, args.max_mb),
                args.concurrency,
                store=store,
            )
            large = bench(
                f"{name} large",
                port,
                _sizes(args.large_files, args.large_min_mb, args.large_max_mb),
                args.concurrency,
                policy_limit=int(args.large_max_mb * MB) + MB,
                store=store,
            )
            growth = large["peak_rss_mb"] - normal["peak_rss_mb"]
            ratio = args.large_max_mb / args.max_mb
            print(
                f"{name}: largest file x{ratio:.0f}, peak RSS {growth:+.1f} MB "
                "(streaming keeps memory flat)"
            )
    finally:
        for server in servers:
            server.terminate()
            server.join(10)


def _store(name: str, s3_port: int) -> dict[str, str]:
    """The settings of one store; a fresh bucket for each S3 run."""
    if name == "folder":
        return {}
    if name != "s3":
        raise SystemExit(f"--stores: unknown store {name!r} (folder, s3)")
    import uuid

    import boto3

    endpoint = f"http://127.0.0.1:{s3_port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return {
        "media_store_url": f"s3://{bucket}/media",
        "s3_endpoint_url": endpoint,
        "secret_key": S3_SECRET_KEY,
    }


if __name__ == "__main__":
    main()
