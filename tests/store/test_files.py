"""The data folder is private: a running service leaves nothing in it readable by others."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.media.store import FilesystemMediaStore
from connector.store.db import Database
from connector.store.files import private_file, private_folder
from tests.media.factories import chunked, png


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), under which a plain `open` or `mkdir` is readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def running_service(tmp_path: Path) -> Iterator[Path]:
    """`mms-connector serve` on a fresh data folder, started under umask 022; the folder."""
    data_dir = tmp_path / "var"
    port = _free_port()
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("CONNECTOR_")
    }
    environment |= {
        "CONNECTOR_DATA_DIR": str(data_dir),
        "CONNECTOR_MAPPINGS_DIR": str(Path(__file__).resolve().parents[2] / "mappings"),
        "CONNECTOR_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).with_name("mms-connector")), "serve", "--port", str(port)]
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        umask=0o022,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the service did not start: {log.read_text()}")
            time.sleep(0.2)
        yield data_dir
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_running_service_keeps_its_database_key_and_media_private(
    running_service: Path,
) -> None:
    data_dir = running_service
    database = data_dir / "connector.db"

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret.key") == 0o600
    assert mode(database) == 0o600
    for companion in ("connector.db-wal", "connector.db-shm"):
        assert (data_dir / companion).exists(), companion  # WAL mode: both exist while running
        assert mode(data_dir / companion) == 0o600, companion
    assert mode(data_dir / "media") == 0o700


def test_media_and_their_folders_are_private(tmp_path: Path, open_umask: None) -> None:
    store = FilesystemMediaStore(tmp_path / "var" / "media")

    blob = store.put(chunked(png()))

    path = store.local_path(blob.content_hash)
    assert path is not None and mode(path) == 0o600
    folder = path.parent
    while folder != tmp_path:
        assert mode(folder) == 0o700, folder
        folder = folder.parent


def test_a_database_created_by_an_older_version_is_made_private(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).write_bytes(b"")
        assert mode(tmp_path / name) == 0o644

    Database(f"sqlite:///{path}").dispose()

    for name in ("old.db", "old.db-wal", "old.db-shm"):
        assert mode(tmp_path / name) == 0o600, name


def test_a_folder_someone_else_chose_is_not_tightened(tmp_path: Path, open_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    assert mode(shared) == 0o755

    private_folder(shared / "a" / "b")
    private_file(shared / "a" / "b" / "file")

    assert mode(shared) == 0o755
    assert mode(shared / "a") == mode(shared / "a" / "b") == 0o700
    assert mode(shared / "a" / "b" / "file") == 0o600
