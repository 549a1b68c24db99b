"""`mms-connector media migrate --to s3://...` as an operator runs it to leave the shared folder:
every blob copied under the same key, an interrupted copy finished by running it again, a count
at the end."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.media.s3 import S3MediaStore
from connector.media.store import FilesystemMediaStore
from tests.fakes.s3 import closed_port_url, objects
from tests.media.factories import KB, chunked, gif, jpeg, pdf, png

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FilesystemMediaStore:
    """The configured folder store (DATA_DIR/media) holding four media and a crashed write."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    store = FilesystemMediaStore(tmp_path / "var" / "media")
    for data in (png(), jpeg(300 * KB), gif(), pdf(2 * 1024 * KB)):
        store.put(chunked(data))
    (store.root / ".tmp").mkdir(exist_ok=True)
    (store.root / ".tmp" / "half-written").write_bytes(b"x")
    return store


def key(prefix: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest[:2]}/{digest[2:4]}/{digest}"


def test_migrate_copies_every_blob_under_its_key(
    folder: FilesystemMediaStore,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", s3_endpoint)

    result = runner.invoke(app, ["media", "migrate", "--to", f"s3://{s3_bucket}/media"])

    assert result.exit_code == 0, result.output
    expected = {key("media", d): len(d) for d in (png(), jpeg(300 * KB), gif(), pdf(2048 * KB))}
    assert objects(s3_endpoint, s3_bucket) == expected
    assert "4 media in" in result.output
    assert "4 copied" in result.output and "0 already in" in result.output
    assert "0 failed" in result.output
    store = S3MediaStore(s3_bucket, "media", endpoint_url=s3_endpoint)
    with store.open(hashlib.sha256(jpeg(300 * KB)).hexdigest()) as handle:
        assert handle.read() == jpeg(300 * KB)


def test_migrate_again_finishes_an_interrupted_copy(
    folder: FilesystemMediaStore,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", s3_endpoint)
    target = S3MediaStore(s3_bucket, "media", endpoint_url=s3_endpoint)
    target.put(chunked(png()))  # copied before the interruption
    truncated = hashlib.sha256(gif()).hexdigest()
    target._client.put_object(Bucket=s3_bucket, Key=target.key(truncated), Body=gif()[:100])

    result = runner.invoke(app, ["media", "migrate", "--to", f"s3://{s3_bucket}/media"])

    assert result.exit_code == 0, result.output
    assert "3 copied" in result.output and "1 already in" in result.output
    assert objects(s3_endpoint, s3_bucket)[key("media", gif())] == len(gif())

    again = runner.invoke(app, ["media", "migrate", "--to", f"s3://{s3_bucket}/media"])

    assert again.exit_code == 0, again.output
    assert "0 copied" in again.output and "4 already in" in again.output


def test_migrate_reads_another_folder_when_told(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", s3_endpoint)
    FilesystemMediaStore(tmp_path / "old").put([png()])

    result = runner.invoke(
        app, ["media", "migrate", "--from", f"file://{tmp_path}/old", "--to", f"s3://{s3_bucket}"]
    )

    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(png()).hexdigest()
    assert objects(s3_endpoint, s3_bucket) == {f"{digest[:2]}/{digest[2:4]}/{digest}": len(png())}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "file:///elsewhere"], "must be an s3:// URL"),
        (["--to", "bucket"], "starts with file:// or s3://"),
        (["--to", "s3://b", "--from", "s3://other"], "must be a file:// URL"),
    ],
)
def test_migrate_refuses_what_it_cannot_copy(
    folder: FilesystemMediaStore, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["media", "migrate", *args])

    assert result.exit_code == 2
    assert message in result.output


def test_migrate_to_an_unreachable_bucket_fails_with_the_reason(
    folder: FilesystemMediaStore, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", closed_port_url())

    result = runner.invoke(app, ["media", "migrate", "--to", "s3://media"])

    assert result.exit_code == 1
    assert "cannot use s3://media" in result.output
    assert "EndpointConnectionError" in result.output
