"""The guarded downloader: public https hosts only, every hop checked, bodies capped and timed.

A media URL comes from a webhook body, so the tests play the attacker: loopback, private and
metadata addresses, IPv6 forms of them, DNS names that resolve to them, and redirects there.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connector.core.errors import Permanent, Transient
from connector.media.decoding import PIECE_BYTES, decoded
from connector.media.fetch import MediaFetcher, MediaNotFound, UnsafeMediaUrl, is_public_address
from connector.media.staging import Spool, SpoolOverflow
from tests.fakes.media_host import HostileMediaHost
from tests.media.factories import MB, chunked, guarded_fetcher, png

CAP = 5 * MB + 64 * 1024
PRIVATE_ADDRESSES = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.5",
    "10.255.255.254",
    "172.16.3.4",
    "192.168.1.20",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.251",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
    "ff02::1",
]


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool", CAP) as kept:
        yield kept


def spooled(spool: Spool) -> bytes:
    return b"".join(spool.chunks())


# -- which addresses are public ----------------------------------------------------------------


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES)
def test_loopback_private_link_local_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_something_that_is_not_an_address_is_not_public() -> None:
    assert not is_public_address("localhost")


# -- the guard, before connecting --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/a.png",
        "https://10.1.2.3/a.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/a.png",
        "https://[::ffff:127.0.0.1]/a.png",
        "https://[fe80::1]:8443/a.png",
    ],
)
def test_a_url_naming_a_private_address_is_refused_before_connecting(
    url: str, spool: Spool, respx_mock: respx.MockRouter
) -> None:
    with pytest.raises(UnsafeMediaUrl):
        guarded_fetcher().download(url, spool)

    assert respx_mock.calls.call_count == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.8", "169.254.169.254", "::1"])
def test_a_host_name_resolving_to_a_private_address_is_refused(
    address: str, spool: Spool, respx_mock: respx.MockRouter
) -> None:
    fetcher = guarded_fetcher({"media.attacker.example": [address]})

    with pytest.raises(UnsafeMediaUrl):
        fetcher.download("https://media.attacker.example/a.png", spool)

    assert respx_mock.calls.call_count == 0


def test_a_host_name_with_one_private_address_among_public_ones_is_refused(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    fetcher = guarded_fetcher({"media.attacker.example": ["93.184.216.34", "10.0.0.8"]})

    with pytest.raises(UnsafeMediaUrl):
        fetcher.download("https://media.attacker.example/a.png", spool)


@pytest.mark.parametrize(
    "url", ["http://media.example.com/a.png", "ftp://media.example.com/a.png", "/a.png", "nope"]
)
def test_only_absolute_https_urls_are_fetched(
    url: str, spool: Spool, respx_mock: respx.MockRouter
) -> None:
    with pytest.raises(UnsafeMediaUrl):
        guarded_fetcher().download(url, spool)

    assert respx_mock.calls.call_count == 0


def test_a_host_that_does_not_resolve_is_worth_another_try(spool: Spool) -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(Transient):
        MediaFetcher(allow_private=False, resolver=failing).download(
            "https://media.example.com/a.png", spool
        )


def test_a_resolver_that_does_not_answer_holds_the_download_no_longer_than_its_deadline(
    spool: Spool,
) -> None:
    answered = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        answered.wait(10)  # a resolver retrying an unreachable name server
        return ["93.184.215.14"]

    fetcher = MediaFetcher(allow_private=False, resolver=stuck)
    started = time.monotonic()
    try:
        with pytest.raises(Transient, match="took over 1 s"):
            fetcher.download("https://media.example.com/a.png", spool, until=started + 1.0)
        assert time.monotonic() - started < 3.0
    finally:
        answered.set()
        fetcher.close()


# -- the guard, at every redirect --------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "https://internal.example/secret.png",
        "https://169.254.169.254/latest/meta-data/iam/",
        "http://media.example.com/a.png",
        "https://[::1]/a.png",
    ],
)
def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(
    location: str, spool: Spool, respx_mock: respx.MockRouter
) -> None:
    first = respx_mock.get("https://media.example.com/a.png").respond(
        302, headers={"Location": location}
    )
    fetcher = guarded_fetcher({"internal.example": ["10.0.0.8"]})

    with pytest.raises(UnsafeMediaUrl):
        fetcher.download("https://media.example.com/a.png", spool)

    assert first.call_count == 1
    assert respx_mock.calls.call_count == 1


def test_redirects_between_public_hosts_are_followed(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://api.example.com/media/1").respond(
        302, headers={"Location": "https://cdn.example.com/1.png?sig=x"}
    )
    respx_mock.get("https://cdn.example.com/1.png?sig=x").respond(
        200, content=png(), headers={"Content-Type": "image/png"}
    )

    downloaded = guarded_fetcher().download("https://api.example.com/media/1", spool)

    assert spooled(spool) == png()
    assert downloaded.host == "cdn.example.com"
    assert downloaded.content_type == "image/png"


def test_a_relative_redirect_is_resolved_against_the_current_url(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://media.example.com/a").respond(301, headers={"Location": "/b.png"})
    respx_mock.get("https://media.example.com/b.png").respond(200, content=png())

    guarded_fetcher().download("https://media.example.com/a", spool)

    assert spooled(spool) == png()


def test_an_endless_redirect_chain_gives_up(spool: Spool, respx_mock: respx.MockRouter) -> None:
    respx_mock.get("https://media.example.com/loop").respond(
        302, headers={"Location": "https://media.example.com/loop"}
    )

    with pytest.raises(Permanent, match="redirects"):
        guarded_fetcher().download("https://media.example.com/loop", spool)


def test_a_dns_answer_that_changes_after_the_check_is_refused_at_connect(spool: Spool) -> None:
    """DNS rebinding: public when the URL is checked, loopback when the socket is opened."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    seen: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        seen.append(host)
        return next(answers)

    fetcher = MediaFetcher(allow_private=False, resolver=rebinding)

    with pytest.raises(UnsafeMediaUrl):
        fetcher.download("https://rebind.attacker.example/a.png", spool)

    assert seen == ["rebind.attacker.example", "rebind.attacker.example"]


def test_private_urls_are_fetched_when_the_operator_allows_them(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("http://127.0.0.1:8025/a.png").respond(200, content=png())

    MediaFetcher(allow_private=True).download("http://127.0.0.1:8025/a.png", spool)

    assert spooled(spool) == png()


# -- bodies: capped, timed, classified ---------------------------------------------------------


def test_a_huge_body_is_cut_off_at_the_cap_without_reading_the_rest(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        chunk = png(64 * 1024)
        for _ in range(1600):  # 100 MB if read to the end
            sent.append(len(chunk))
            yield chunk

    respx_mock.get("https://media.example.com/huge.png").respond(200, content=endless())

    with pytest.raises(SpoolOverflow):
        guarded_fetcher().download("https://media.example.com/huge.png", spool)

    assert sum(sent) <= CAP + 2 * 64 * 1024
    assert spool.head.startswith(b"\x89PNG")


def test_a_body_announced_over_the_cap_is_read_only_as_far_as_its_head(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        for chunk in chunked(png(50 * MB), 64 * 1024):
            sent.append(len(chunk))
            yield chunk

    respx_mock.get("https://media.example.com/big.png").respond(
        200, content=body(), headers={"Content-Length": str(50 * MB)}
    )

    with pytest.raises(SpoolOverflow) as caught:
        guarded_fetcher().download("https://media.example.com/big.png", spool)

    assert caught.value.size == 50 * MB
    assert sum(sent) <= 2 * 64 * 1024


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
def test_timeouts_and_broken_connections_are_worth_another_try(
    error: type[Exception], spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://media.example.com/a.png").mock(side_effect=error("boom"))

    with pytest.raises(Transient):
        guarded_fetcher().download("https://media.example.com/a.png", spool)


def test_a_body_that_trickles_past_the_deadline_is_abandoned(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    def trickle() -> Iterator[bytes]:
        for chunk in chunked(png(64 * 1024), 1024):
            time.sleep(0.02)
            yield chunk

    respx_mock.get("https://media.example.com/slow.png").respond(200, content=trickle())

    started = time.monotonic()
    with pytest.raises(Transient, match="took over"):
        guarded_fetcher(deadline_seconds=0.1).download("https://media.example.com/slow.png", spool)

    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("status", "may_appear"), [(403, True), (404, True), (410, False)])
def test_a_missing_medium_says_whether_it_may_still_appear(
    status: int, may_appear: bool, spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://media.example.com/a.png").respond(status)

    with pytest.raises(MediaNotFound) as caught:
        guarded_fetcher().download("https://media.example.com/a.png", spool)

    assert caught.value.may_appear is may_appear


def test_a_busy_host_is_retried_no_sooner_than_it_asks(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://media.example.com/a.png").respond(503, headers={"Retry-After": "30"})

    with pytest.raises(Transient) as caught:
        guarded_fetcher().download("https://media.example.com/a.png", spool)

    assert caught.value.retry_after == 30.0


def test_a_refusal_that_retrying_cannot_fix_is_permanent(
    spool: Spool, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("https://media.example.com/a.png").respond(400)

    with pytest.raises(Permanent) as caught:
        guarded_fetcher().download("https://media.example.com/a.png", spool)

    assert not isinstance(caught.value, MediaNotFound)


# -- a real misbehaving host over loopback sockets ---------------------------------------------


@pytest.fixture
def media_host() -> Iterator[HostileMediaHost]:
    with HostileMediaHost(interval=0.2, trickle_for=120.0) as host:
        yield host


def loopback_fetcher(**options: Any) -> MediaFetcher:
    return MediaFetcher(allow_private=True, **options)


def hung_up(host: HostileMediaHost) -> bool:
    """Whether the host saw every trickling connection closed (polled: the server notices a
    closed socket on its next write)."""
    for _ in range(100):
        if host.open_connections() == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ["/slow-headers.png", "/slow-body.png"])
def test_a_host_trickling_a_byte_at_a_time_is_given_up_at_the_deadline(
    media_host: HostileMediaHost, spool: Spool, path: str
) -> None:
    """Headers or body, a byte every 0.2 s never trips a read timeout; the deadline ends it."""
    with pytest.raises(Transient, match="took over 1 s"):
        loopback_fetcher(deadline_seconds=1.0).download(media_host.url + path, spool)

    assert media_host.sent(path) > 0  # it was trickling, not refused
    assert hung_up(media_host)


@pytest.mark.timeout(30)
def test_one_deadline_covers_every_hop_of_a_download(
    media_host: HostileMediaHost, spool: Spool
) -> None:
    """The caller's deadline is absolute: time spent before (other media) counts against it."""
    fetcher = loopback_fetcher(deadline_seconds=600.0)
    with pytest.raises(Transient, match="took over"):
        fetcher.download(media_host.url + "/slow-headers.png", spool, until=time.monotonic() + 1.0)
    assert hung_up(media_host)


def test_a_deflate_bomb_is_cut_off_at_the_cap_on_its_decoded_bytes(
    media_host: HostileMediaHost, tmp_path: Path
) -> None:
    cap = 5 * MB
    tracemalloc.start()
    try:
        with Spool(tmp_path / "spool", cap) as capped, pytest.raises(SpoolOverflow) as caught:
            loopback_fetcher().download(media_host.url + "/bomb.png", capped)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(media_host.bomb) < 300 * 1024  # what travelled: a few hundred KB...
    assert caught.value.size <= cap + PIECE_BYTES  # ...inflated no further than the cap
    assert peak < 8 * MB  # and never held in memory at once (64 MB once fully inflated)


def test_a_gzip_encoded_medium_is_stored_decoded(
    media_host: HostileMediaHost, spool: Spool
) -> None:
    downloaded = loopback_fetcher().download(media_host.url + "/gzip.png", spool)

    assert spooled(spool) == media_host.image
    assert downloaded.content_type == "image/png"


def test_an_encoding_the_connector_cannot_read_is_refused_for_good(
    media_host: HostileMediaHost, spool: Spool
) -> None:
    with pytest.raises(Permanent, match="does not read: br"):
        loopback_fetcher().download(media_host.url + "/br.png", spool)


@pytest.mark.parametrize("header", ["deflate, gzip, gzip", "compress", "zstd"])
def test_too_many_or_unknown_encodings_are_refused(header: str) -> None:
    with pytest.raises(Permanent):
        list(decoded(header, [b"\x00" * 10]))
