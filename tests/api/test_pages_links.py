"""Composer links: signed, expiring, and worth nothing once altered or in another context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.media import links
from connector.media.page_links import (
    ComposeGrant,
    CrmRecord,
    PageLinkExpired,
    PageLinkInvalid,
    compose_url,
    sign_compose,
    verify_compose,
)

SECRET = b"page-link-secret-0123456789"
RECORD = CrmRecord("salesforce", "Contact", "003000000000001AAA")
TO = "+14155552671"
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_a_link_grants_its_record_and_recipient_until_it_expires() -> None:
    token, grant = sign_compose(SECRET, RECORD, TO, now=NOW)
    assert grant == ComposeGrant(record=RECORD, to=TO, expires_at=NOW + timedelta(hours=1))
    assert verify_compose(SECRET, token, now=NOW + timedelta(minutes=59)) == grant
    with pytest.raises(PageLinkExpired):
        verify_compose(SECRET, token, now=NOW + timedelta(hours=1))


def test_the_lifetime_is_bounded() -> None:
    _, grant = sign_compose(SECRET, RECORD, TO, ttl=timedelta(minutes=5), now=NOW)
    assert grant.expires_at == NOW + timedelta(minutes=5)
    for ttl in (timedelta(0), timedelta(hours=12, seconds=1)):
        with pytest.raises(ValueError):
            sign_compose(SECRET, RECORD, TO, ttl=ttl, now=NOW)


def _swap_payload(token: str, other: str) -> str:
    version, _, signature = token.split(".")
    return f"{version}.{other.split('.')[1]}.{signature}"


def test_an_altered_link_is_not_valid_and_never_said_to_be_expired() -> None:
    token, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    other, _ = sign_compose(SECRET, RECORD, "+14155550000", now=NOW)
    later = NOW + timedelta(days=30)
    altered = [
        _swap_payload(token, other),  # someone else's recipient under this signature
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        token.replace("p1.", "p2.", 1),
        token + ".x",
        "",
        "p1..",
        "p1.!!!.???",
        "p1." + "A" * 3000 + ".B",
        links.sign(SECRET, links.LinkKind.THREAD, 7),  # a media link is not a page link
    ]
    for candidate in altered:
        with pytest.raises(PageLinkInvalid) as raised:
            verify_compose(SECRET, candidate, now=later)
        assert not isinstance(raised.value, PageLinkExpired), candidate
    with pytest.raises(PageLinkInvalid):
        verify_compose(b"another-deployment-secret", token, now=NOW)


def test_a_page_link_is_not_a_media_link() -> None:
    token, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    assert links.verify(SECRET, token) is None


def test_the_url_is_the_composer_under_the_public_url() -> None:
    assert compose_url("https://mms.example.com/", "p1.a.b") == (
        "https://mms.example.com/compose?token=p1.a.b"
    )


def _spellings_of_last_character(token: str) -> list[str]:
    """The token with its last base64 character swapped for every other character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return [token[:-1] + c for c in alphabet if c != token[-1]]


def test_exactly_one_spelling_of_a_composer_link_is_valid() -> None:
    token, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    variants = [
        *_spellings_of_last_character(token),
        token + "\n",
        token + "=",
        token + "%0A",
        token[:-1] + "\n" + token[-1],
    ]
    for variant in variants:
        with pytest.raises(PageLinkInvalid):
            verify_compose(SECRET, variant, now=NOW)
    assert verify_compose(SECRET, token, now=NOW).to == TO


def test_exactly_one_spelling_of_a_media_link_is_valid() -> None:
    token = links.sign(SECRET, links.LinkKind.ATTACHMENT, 42)
    for variant in [*_spellings_of_last_character(token), token + "\n", "0" + token, " " + token]:
        assert links.verify(SECRET, variant) is None, repr(variant)
    assert links.verify(SECRET, token) == links.LinkTarget(links.LinkKind.ATTACHMENT, 42)
