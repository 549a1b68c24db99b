"""Which media store a process uses: `CONNECTOR_MEDIA_STORE_URL`, checked at start-up, the folder
under DATA_DIR by default, and what `/readyz` says of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import bootstrap
from connector.bootstrap import SecretKeyError, load_secret
from connector.config import ConfigError, load_settings
from connector.media.locations import Bucket, parse_store_url, readiness
from connector.media.s3 import S3MediaStore
from connector.media.store import FilesystemMediaStore
from tests.conftest import make_settings
from tests.fakes.s3 import closed_port_url


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("file:///srv/media", Path("/srv/media")),
        ("file://var/media", Path("var/media")),
        ("s3://connector-media", Bucket("connector-media", "")),
        ("s3://connector-media/prod/media/", Bucket("connector-media", "prod/media")),
    ],
)
def test_a_store_url_names_a_folder_or_a_bucket(url: str, where: Path | Bucket) -> None:
    assert parse_store_url(url) == where


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "file://", "/srv/media"])
def test_any_other_store_url_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(ValueError, match=r"file://|s3://"):
        parse_store_url(url)


@pytest.mark.parametrize("raw", ["ftp://host/media", "s3://Bad_Bucket", "/srv/media"])
def test_a_bad_store_url_names_the_variable_at_start_up(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CONNECTOR_MEDIA_STORE_URL", raw)

    with pytest.raises(ConfigError, match="CONNECTOR_MEDIA_STORE_URL"):
        load_settings(_env_file=None)


def test_a_bad_endpoint_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", "minio:9000")

    with pytest.raises(ConfigError, match="CONNECTOR_S3_ENDPOINT_URL"):
        load_settings(_env_file=None)


def test_the_folder_under_data_dir_is_the_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    store = bootstrap.media_store(settings)

    assert isinstance(store, FilesystemMediaStore)
    assert store.root == settings.data_dir / "media"
    assert settings.media.redirect is False


def test_a_file_url_moves_the_folder(tmp_path: Path) -> None:
    store = bootstrap.media_store(
        make_settings(tmp_path, media_store_url=f"file://{tmp_path}/elsewhere")
    )

    assert isinstance(store, FilesystemMediaStore)
    assert store.root == tmp_path / "elsewhere"


def test_an_s3_url_opens_the_bucket_at_the_endpoint(tmp_path: Path, aws_env: None) -> None:
    settings = make_settings(
        tmp_path,
        media_store_url="s3://connector-media/prod",
        s3_endpoint_url="http://127.0.0.1:9000/",
    )

    store = bootstrap.media_store(settings)

    assert isinstance(store, S3MediaStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == (
        "connector-media",
        "prod/",
        "http://127.0.0.1:9000",
    )


def test_readiness_reports_a_store_that_answers(tmp_path: Path) -> None:
    assert readiness(FilesystemMediaStore(tmp_path / "media"))["ok"] is True


def test_readiness_reports_an_unreachable_bucket(aws_env: None) -> None:
    report = readiness(S3MediaStore("media", endpoint_url=closed_port_url()))

    assert report["ok"] is False
    assert "unreachable" in str(report["error"]) and "media" in str(report["error"])


def test_an_s3_store_without_a_configured_signing_key_stops_start_up(tmp_path: Path) -> None:
    """Replicas on a bucket keep no shared data folder: a generated key would differ per pod and
    change at each restart, breaking the links already written into CRM records."""
    settings = make_settings(tmp_path, media_store_url="s3://media/x")
    with pytest.raises(SecretKeyError, match="CONNECTOR_SECRET_KEY must be set"):
        load_secret(settings)
    assert not (tmp_path / "var" / "secret.key").exists()
