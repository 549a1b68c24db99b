"""The capture job: each received medium downloaded once, judged by its bytes, kept or refused.

Every capture ends settled (stored, unsupported or unavailable), never as a dead job, because
the CRM sync waits for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx

from connector import bootstrap
from connector.config import Settings
from connector.core import catalogue
from connector.core.errors import Transient
from connector.core.keys import KeyRing
from connector.core.model import Provider
from connector.media.capture import MediaCapture
from connector.media.fetch import MediaFetcher
from connector.media.status import attachment_links, captures_settled, media_alert
from connector.media.store import FilesystemMediaStore
from connector.store import queue
from connector.store.conversations import CAPTURE_MEDIA, AttachmentState
from connector.store.db import Database
from connector.store.queue import utcnow
from tests.conftest import make_settings
from tests.fakes.media_host import HostileMediaHost
from tests.media.factories import (
    KB,
    MB,
    attachment_row,
    capture_job,
    file_bytes,
    gif,
    guarded_fetcher,
    jpeg,
    media_url,
    pdf,
    png,
    receive,
    received_ago,
)

SECRET = KeyRing(b"capture-test-secret")


@pytest.fixture
def store(settings: Settings) -> FilesystemMediaStore:
    return FilesystemMediaStore(settings.media_dir)


@pytest.fixture
def capture(database: Database, store: FilesystemMediaStore, settings: Settings) -> MediaCapture:
    return MediaCapture(database, store, bootstrap.capture_limits(settings))


def serve(respx_mock: respx.MockRouter, name: str, body: bytes, status: int = 200) -> respx.Route:
    return respx_mock.get(media_url(name)).respond(status, content=body)


def state(database: Database, attachment_id: int) -> AttachmentState:
    return AttachmentState(attachment_row(database, attachment_id).state)


# -- compliant media are kept ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "sniffed"),
    [
        ("photo.png", png(200 * KB), "image/png"),
        ("photo.jpg", jpeg(3 * MB), "image/jpeg"),
        ("anim.gif", gif(), "image/gif"),
        ("quote.pdf", pdf(500 * KB), "application/pdf"),
    ],
)
def test_a_compliant_medium_is_stored_once_with_its_sniffed_type(
    name: str,
    body: bytes,
    sniffed: str,
    database: Database,
    capture: MediaCapture,
    store: FilesystemMediaStore,
    respx_mock: respx.MockRouter,
) -> None:
    serve(respx_mock, name, body)
    _, _, [attachment_id] = receive(database, [(name, None)])

    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.STORED
    assert row.sniffed_type == sniffed
    assert row.size == len(body)
    assert row.error is None and row.captured_at is not None
    with store.open(row.content_hash) as handle:
        assert handle.read() == body


def test_a_capture_that_already_settled_does_nothing(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    route = serve(respx_mock, "a.png", png())
    _, _, [attachment_id] = receive(database, [("a.png", None)])
    capture(capture_job(attachment_id))

    capture(capture_job(attachment_id))

    assert route.call_count == 1


def test_a_capture_whose_job_was_taken_over_writes_nothing(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "a.png", png())
    _, _, [attachment_id] = receive(database, [("a.png", None)])
    with database.begin() as conn:
        mine = queue.claim(conn, "w1", timedelta(seconds=30), kinds=[CAPTURE_MEDIA])
    assert mine is not None and mine.subject == str(attachment_id)
    with database.begin() as conn:  # w1 stalled past its lease; w2 took the job over
        theirs = queue.claim(
            conn, "w2", timedelta(seconds=30), now=utcnow() + timedelta(seconds=31)
        )
    assert theirs is not None and theirs.id == mine.id

    capture(mine)

    assert state(database, attachment_id) is AttachmentState.PENDING
    capture(theirs)
    assert state(database, attachment_id) is AttachmentState.STORED


def test_the_name_and_declared_type_do_not_decide_the_type(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "scan.pdf", png())
    _, _, [attachment_id] = receive(database, [("scan.pdf", None)])

    capture(capture_job(attachment_id))

    assert attachment_row(database, attachment_id).sniffed_type == "image/png"


# -- non-compliant media are recorded without a link ------------------------------------------


@pytest.mark.parametrize("kind", ["elf", "html"])
def test_a_medium_of_the_wrong_type_is_unsupported_and_not_kept(
    kind: str,
    database: Database,
    capture: MediaCapture,
    store: FilesystemMediaStore,
    respx_mock: respx.MockRouter,
) -> None:
    serve(respx_mock, "holiday.png", file_bytes(kind, 20 * KB))
    message_id, _, [attachment_id] = receive(database, [("holiday.png", None)])

    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNSUPPORTED
    assert row.content_hash is None
    assert row.error.startswith("unsupported_format:")
    assert not [path for path in store.root.rglob("*") if path.is_file()]
    with database.read() as conn:
        [link] = attachment_links(conn, message_id, "https://c.example", SECRET)
        assert media_alert([link]) == catalogue.INBOUND_UNSUPPORTED_TEXT
    assert link.url is None
    assert link.notice == "Some media cannot be received due to unsupported format."


def test_a_huge_medium_is_cut_off_at_the_cap_and_unsupported(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        chunk = png(64 * KB)
        for _ in range(800):  # 50 MB
            sent.append(len(chunk))
            yield chunk

    respx_mock.get(media_url("huge.png")).respond(200, content=endless())
    _, _, [attachment_id] = receive(database, [("huge.png", None)])

    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNSUPPORTED
    assert row.error == (
        "file_too_large: Your file size exceeds the limit of 5 MB. "
        "Please reduce the file size and try again"
    )
    assert sum(sent) < 6 * MB


def test_a_pdf_over_the_aircall_pdf_limit_is_unsupported(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "quote.pdf", pdf(700 * KB))
    _, _, [attachment_id] = receive(database, [("quote.pdf", None)])

    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNSUPPORTED
    assert "600 KB" in row.error


def test_a_pdf_is_unsupported_under_the_cloudtalk_policy(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "quote.pdf", pdf())
    _, _, [attachment_id] = receive(database, [("quote.pdf", None)], provider=Provider.CLOUDTALK)

    capture(capture_job(attachment_id))

    assert state(database, attachment_id) is AttachmentState.UNSUPPORTED


def test_an_empty_body_is_unavailable(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "a.png", b"")
    _, _, [attachment_id] = receive(database, [("a.png", None)])

    capture(capture_job(attachment_id))

    assert state(database, attachment_id) is AttachmentState.UNAVAILABLE


# -- media that are not there (yet) ------------------------------------------------------------


def test_a_medium_that_appears_after_the_webhook_is_captured_on_a_later_try(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(media_url("late.png")).mock(
        side_effect=[httpx.Response(404), httpx.Response(200, content=png())]
    )
    _, _, [attachment_id] = receive(database, [("late.png", None)])

    with pytest.raises(Transient) as caught:
        capture(capture_job(attachment_id))
    assert caught.value.retry_after is not None
    assert state(database, attachment_id) is AttachmentState.PENDING

    capture(capture_job(attachment_id))

    assert state(database, attachment_id) is AttachmentState.STORED


@pytest.mark.parametrize("status", [403, 404])
def test_a_medium_still_missing_after_the_grace_period_is_unavailable(
    status: int, database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "gone.png", b"", status=status)
    message_id, _, [attachment_id] = receive(database, [("gone.png", None)])
    received_ago(database, message_id, timedelta(minutes=11))

    capture(capture_job(attachment_id))  # no exception: settled, not a dead job

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNAVAILABLE
    assert str(status) in row.error
    assert "X-Amz-Signature" not in row.error


def test_a_gone_medium_is_unavailable_at_once(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "gone.png", b"", status=410)
    _, _, [attachment_id] = receive(database, [("gone.png", None)])

    capture(capture_job(attachment_id))

    assert state(database, attachment_id) is AttachmentState.UNAVAILABLE


def test_a_failing_host_is_retried_then_given_up_as_unavailable(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(media_url("a.png")).mock(side_effect=httpx.ReadTimeout("slow"))
    message_id, _, [attachment_id] = receive(database, [("a.png", None)])

    with pytest.raises(Transient):
        capture(capture_job(attachment_id))
    received_ago(database, message_id, timedelta(hours=3))
    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNAVAILABLE
    assert row.error.startswith("gave up:")


def test_a_url_redirecting_to_a_private_address_is_unavailable(
    database: Database,
    store: FilesystemMediaStore,
    settings: Settings,
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(media_url("a.png")).respond(
        302, headers={"Location": "https://169.254.169.254/latest/meta-data/"}
    )
    capture = MediaCapture(database, store, bootstrap.capture_limits(settings), guarded_fetcher())
    _, _, [attachment_id] = receive(database, [("a.png", None)])

    capture(capture_job(attachment_id))

    row = attachment_row(database, attachment_id)
    assert row.state == AttachmentState.UNAVAILABLE
    assert row.error.startswith("refused")
    assert respx_mock.calls.call_count == 1


def test_without_the_operator_s_permission_a_loopback_url_is_refused(
    database: Database, tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    settings = make_settings(tmp_path, allow_private_media_urls=False)
    capture = MediaCapture(
        database, FilesystemMediaStore(settings.media_dir), bootstrap.capture_limits(settings)
    )
    _, _, [attachment_id] = receive(database, [("a.png", "https://127.0.0.1:9/a.png")])

    capture(capture_job(attachment_id))

    assert state(database, attachment_id) is AttachmentState.UNAVAILABLE
    assert respx_mock.calls.call_count == 0


# -- what the CRM sync sees --------------------------------------------------------------------


def test_captures_settle_once_every_attachment_is_decided(
    database: Database, capture: MediaCapture, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "a.png", png())
    serve(respx_mock, "b.exe", file_bytes("elf"))
    message_id, _, [first, second] = receive(database, [("a.png", None), ("b.exe", None)])

    with database.read() as conn:
        assert not captures_settled(conn, message_id)
    capture(capture_job(first))
    with database.read() as conn:
        assert not captures_settled(conn, message_id)
    capture(capture_job(second))

    with database.read() as conn:
        assert captures_settled(conn, message_id)
        links = attachment_links(conn, message_id, "https://c.example", SECRET)
    assert [link.state for link in links] == [AttachmentState.STORED, AttachmentState.UNSUPPORTED]
    assert links[0].url is not None and links[0].url.startswith("https://c.example/media/a")
    assert links[0].content_type == "image/png" and links[0].size == len(png())
    assert links[1].url is None
    assert media_alert(links) == catalogue.INBOUND_UNSUPPORTED_TEXT


def test_a_message_without_media_is_settled(database: Database) -> None:
    message_id, _, _ = receive(database, [])

    with database.read() as conn:
        assert captures_settled(conn, message_id)
        assert attachment_links(conn, message_id, "https://c.example", SECRET) == []


def test_the_worker_runs_the_registered_capture_jobs(
    settings: Settings, respx_mock: respx.MockRouter
) -> None:
    serve(respx_mock, "a.png", png())
    connector = bootstrap.build(settings)
    try:
        message_id, _, [attachment_id] = receive(connector.database, [("a.png", None)])

        assert connector.worker().drain() == 1

        assert state(connector.database, attachment_id) is AttachmentState.STORED
        with connector.database.read() as conn:
            assert captures_settled(conn, message_id)
    finally:
        connector.close()


def test_the_default_fetcher_follows_the_operator_setting(
    database: Database, tmp_path: Path
) -> None:
    for allowed in (True, False):
        settings = make_settings(tmp_path, allow_private_media_urls=allowed)
        capture = MediaCapture(
            database, FilesystemMediaStore(settings.media_dir), bootstrap.capture_limits(settings)
        )
        assert isinstance(capture.fetcher, MediaFetcher)
        assert capture.fetcher.allow_private is allowed


# -- a stuck media host ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_stuck_download_fails_as_transient_within_the_configured_time(
    database: Database, store: FilesystemMediaStore, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, media_download_timeout_seconds=1)
    capture = MediaCapture(database, store, bootstrap.capture_limits(settings))
    with HostileMediaHost(interval=0.2, trickle_for=120.0) as host:
        _, _, [stuck, fine] = receive(
            database,
            [("stuck.png", f"{host.url}/slow-headers.png"), ("fine.png", f"{host.url}/image.png")],
        )

        with pytest.raises(Transient, match="took over 1 s"):
            capture(capture_job(stuck))
        capture(capture_job(fine))

    assert state(database, stuck) is AttachmentState.PENDING  # tried again later
    assert state(database, fine) is AttachmentState.STORED


@pytest.mark.parametrize(
    ("configured", "lease", "expected"),
    [(45.0, 60.0, 45.0), (300.0, 60.0, 45.0), (10.0, 60.0, 10.0), (45.0, 20.0, 15.0)],
)
def test_a_capture_always_ends_well_inside_its_job_lease(
    tmp_path: Path, configured: float, lease: float, expected: float
) -> None:
    """Otherwise another worker takes the job and starts the same stuck download again."""
    settings = make_settings(
        tmp_path, media_download_timeout_seconds=configured, job_lease_seconds=lease
    )
    assert bootstrap.capture_limits(settings).deadline_seconds == expected
