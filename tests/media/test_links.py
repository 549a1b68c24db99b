"""Signed media links: stable, unguessable, and worthless once altered."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from connector import bootstrap
from connector.config import ConfigError
from connector.core.keys import KeyRing
from connector.media.links import (
    LinkKind,
    LinkTarget,
    attachment_url,
    media_url,
    sign,
    upload_url,
    verify,
)
from tests.conftest import make_settings

SECRET = KeyRing(b"a-test-secret-that-signs-links")


def test_a_signed_link_names_what_it_points_at() -> None:
    token = sign(SECRET, LinkKind.ATTACHMENT, 42)

    assert verify(SECRET, token) == LinkTarget(LinkKind.ATTACHMENT, 42)
    assert verify(SECRET, sign(SECRET, LinkKind.UPLOAD, 42)) == LinkTarget(LinkKind.UPLOAD, 42)


def test_the_same_medium_always_gets_the_same_link() -> None:
    assert sign(SECRET, LinkKind.ATTACHMENT, 7) == sign(SECRET, LinkKind.ATTACHMENT, 7)


def test_changing_the_id_of_a_link_does_not_reach_another_medium() -> None:
    token = sign(SECRET, LinkKind.ATTACHMENT, 42)
    _, signature = token.split(".")

    assert verify(SECRET, f"a43.{signature}") is None
    assert verify(SECRET, f"u42.{signature}") is None


def test_a_link_with_an_altered_signature_is_refused() -> None:
    token = sign(SECRET, LinkKind.ATTACHMENT, 42)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert verify(SECRET, flipped) is None


def test_a_link_signed_with_another_secret_is_refused() -> None:
    assert verify(SECRET, sign(KeyRing(b"another-secret"), LinkKind.ATTACHMENT, 42)) is None


# Written into CRM records by earlier releases under SECRET: they must verify for ever.
WRITTEN_BEFORE = {
    "a42.7AZbCb1YjEDUK9QuML3POcM9": LinkTarget(LinkKind.ATTACHMENT, 42),
    "t7.oDvnkJaGojepSIrKuwCIfkbF": LinkTarget(LinkKind.THREAD, 7),
    "u3.sjvYJY9J1B3yOLw67hVb-U1R": LinkTarget(LinkKind.UPLOAD, 3),
}
NEW_KEY = b"the-key-that-replaced-the-test-secret"


def test_links_already_written_into_crm_records_keep_their_format_and_verify() -> None:
    for token, target in WRITTEN_BEFORE.items():
        assert sign(SECRET, target.kind, target.id) == token
        assert verify(SECRET, token) == target


def test_after_a_rotation_links_signed_with_a_previous_key_still_verify() -> None:
    rotated = KeyRing(NEW_KEY, (b"an-older-key-still-kept", SECRET.current))

    for token, target in WRITTEN_BEFORE.items():
        assert verify(rotated, token) == target
    assert verify(KeyRing(NEW_KEY), "a42.7AZbCb1YjEDUK9QuML3POcM9") is None


def test_new_links_are_signed_with_the_current_key_only() -> None:
    rotated = KeyRing(NEW_KEY, (SECRET.current,))

    token = sign(rotated, LinkKind.ATTACHMENT, 42)

    assert token == sign(KeyRing(NEW_KEY), LinkKind.ATTACHMENT, 42)
    assert token not in WRITTEN_BEFORE
    assert verify(SECRET, token) is None


def test_the_key_ring_never_shows_a_key() -> None:
    shown = repr(KeyRing(NEW_KEY, (SECRET.current,)))

    assert NEW_KEY.decode() not in shown and SECRET.current.decode() not in shown
    assert "1 hidden" in shown


def test_an_empty_key_cannot_join_the_ring() -> None:
    with pytest.raises(ValueError, match="empty"):
        KeyRing(b"")
    with pytest.raises(ValueError, match="empty"):
        KeyRing(NEW_KEY, (b"",))


def test_neighbouring_ids_have_unrelated_signatures() -> None:
    signatures = {sign(SECRET, LinkKind.ATTACHMENT, n).split(".")[1] for n in range(1, 200)}

    assert len(signatures) == 199


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a42",
        "a42.",
        "x42.AAAAAAAAAAAAAAAAAAAAAAAA",
        "a0.AAAAAAAAAAAAAAAAAAAAAAAA",
        "a-1.AAAAAAAAAAAAAAAAAAAAAAAA",
        "a42.AAAA",
        "a42.AAAAAAAAAAAAAAAAAAAAAAAA/../x",
        "a" + "9" * 40 + ".AAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert verify(SECRET, token) is None


def test_links_live_under_the_public_url() -> None:
    assert media_url("https://c.example/", "a1.x") == "https://c.example/media/a1.x"
    assert attachment_url("https://c.example", SECRET, 3).startswith("https://c.example/media/a3.")
    assert upload_url("https://c.example", SECRET, 3).startswith("https://c.example/media/u3.")


def test_a_missing_secret_is_generated_once_and_kept_under_the_data_folder(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)

    first = bootstrap.load_secret(settings).current
    second = bootstrap.load_secret(settings).current

    assert first == second and len(first) >= 32
    assert (settings.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600


def _race_for_the_key(data_dir: str, barrier: Any, results: Any) -> None:
    settings = make_settings(Path(data_dir).parent)
    barrier.wait()
    try:
        results.put(bootstrap.load_secret(settings).current)
    except Exception as exc:  # reported to the test, not lost in the child
        results.put(repr(exc))


def test_processes_starting_together_all_read_the_same_whole_key(tmp_path: Path) -> None:
    """Several processes on one fresh data folder: one key, never empty or partial."""
    context = multiprocessing.get_context("fork")
    processes_per_round, rounds = 6, 15
    for round_number in range(rounds):
        data_dir = tmp_path / f"round-{round_number}" / "var"
        barrier = context.Barrier(processes_per_round)
        results = context.Queue()
        processes = [
            context.Process(target=_race_for_the_key, args=(str(data_dir), barrier, results))
            for _ in range(processes_per_round)
        ]
        for process in processes:
            process.start()
        keys = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)

        assert all(isinstance(key, bytes) for key in keys), keys
        assert len(set(keys)) == 1, f"round {round_number}: {len(set(keys))} different keys"
        assert len(keys[0]) >= 32
        assert (data_dir / "secret.key").read_bytes().strip() == keys[0]
        assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no temporary left


def test_an_empty_key_file_left_by_an_older_version_is_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "secret.key").write_text("")

    with pytest.raises(ConfigError, match=r"secret\.key is empty") as raised:
        bootstrap.load_secret(settings)
    assert "CONNECTOR_SECRET_KEY" in str(raised.value)
