"""Composer links: signed, expiring, and worth nothing once altered or in another context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.core.keys import KeyRing
from connector.media import links
from connector.media.page_links import (
    MAX_TTL,
    ComposeGrant,
    CrmRecord,
    PageLinkExpired,
    PageLinkInvalid,
    PagePurpose,
    compose_url,
    sign_compose,
    verify_compose,
)

SECRET = KeyRing(b"page-link-secret-0123456789")
NEW_KEY = b"the-page-link-key-after-a-rotation"
# A link of the first, hand-made format, signed under SECRET for RECORD and TO at NOW.
P1_TOKEN = (
    "p1.eyJleHAiOjE3Nzc2MzMyMDAsImsiOiJjb21wb3NlIiwibyI6IkNvbnRhY3QiLCJyIjoiMDAzMDAwMDAwMDAwMDAx"
    "QUFBIiwicyI6InNhbGVzZm9yY2UiLCJ0byI6IisxNDE1NTU1MjY3MSJ9.d0-gXg7sdJMZDjCLw_G1kL3SZzt62xpFRcavL"
    "p6O35U"
)
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


def _swap_part(token: str, other: str, part: int) -> str:
    """`token` with one of its three parts (payload, time, signature) taken from `other`."""
    parts = token.rsplit(".", 2)  # a compressed payload starts with a dot of its own
    parts[part] = other.rsplit(".", 2)[part]
    return ".".join(parts)


def test_an_altered_link_is_not_valid_and_never_said_to_be_expired() -> None:
    token, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    other, _ = sign_compose(SECRET, RECORD, "+14155550000", now=NOW)
    renewed, _ = sign_compose(SECRET, RECORD, TO, now=NOW + timedelta(days=30))
    later = NOW + timedelta(days=30)
    altered = [
        _swap_part(token, other, 0),  # someone else's recipient under this signature
        _swap_part(token, renewed, 1),  # a later signing time under this signature
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "." + token,
        token + ".x",
        "",
        "..",
        "!!!.???.x",
        "A" * 3000 + ".B.C",
        links.sign(SECRET, links.LinkKind.THREAD, 7),  # a media link is not a page link
    ]
    for candidate in altered:
        with pytest.raises(PageLinkInvalid) as raised:
            verify_compose(SECRET, candidate, now=later)
        assert not isinstance(raised.value, PageLinkExpired), candidate
    with pytest.raises(PageLinkInvalid):
        verify_compose(KeyRing(b"another-deployment-secret"), token, now=NOW)


def test_a_page_link_is_not_a_media_link() -> None:
    token, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    assert links.verify(SECRET, token) is None


def test_a_link_of_the_first_format_is_no_longer_accepted() -> None:
    """`p1.` links lived 12 hours at most: after the upgrade the record opens a fresh one."""
    with pytest.raises(PageLinkInvalid) as raised:
        verify_compose(SECRET, P1_TOKEN, now=NOW)
    assert not isinstance(raised.value, PageLinkExpired)


def test_a_composer_link_survives_a_key_rotation() -> None:
    token, grant = sign_compose(SECRET, RECORD, TO, now=NOW)

    assert verify_compose(KeyRing(NEW_KEY, (SECRET.current,)), token, now=NOW) == grant
    with pytest.raises(PageLinkInvalid):
        verify_compose(KeyRing(NEW_KEY), token, now=NOW)


def test_a_composer_link_is_signed_with_the_current_key_only() -> None:
    token, grant = sign_compose(KeyRing(NEW_KEY, (SECRET.current,)), RECORD, TO, now=NOW)

    assert verify_compose(KeyRing(NEW_KEY), token, now=NOW) == grant
    with pytest.raises(PageLinkInvalid):
        verify_compose(SECRET, token, now=NOW)


def test_a_token_of_one_purpose_is_refused_by_another() -> None:
    claims = {"s": RECORD.system, "o": RECORD.object, "r": RECORD.record_id, "to": TO}
    another = PagePurpose("another-page")
    composer, _ = sign_compose(SECRET, RECORD, TO, now=NOW)
    elsewhere, _ = another.sign(SECRET, claims, now=NOW)

    assert composer != elsewhere
    assert another.verify(SECRET, elsewhere, now=NOW)[0] == claims
    with pytest.raises(PageLinkInvalid) as raised:
        another.verify(SECRET, composer, now=NOW)
    assert not isinstance(raised.value, PageLinkExpired)
    with pytest.raises(PageLinkInvalid) as raised:
        verify_compose(SECRET, elsewhere, now=NOW)
    assert not isinstance(raised.value, PageLinkExpired)


def test_a_link_signed_by_a_replica_whose_clock_runs_a_little_ahead_opens() -> None:
    ahead, grant = sign_compose(SECRET, RECORD, TO, now=NOW + timedelta(seconds=20))
    assert verify_compose(SECRET, ahead, now=NOW) == grant

    far_ahead, _ = sign_compose(SECRET, RECORD, TO, now=NOW + timedelta(hours=1))
    with pytest.raises(PageLinkInvalid) as raised:
        verify_compose(SECRET, far_ahead, now=NOW)
    assert not isinstance(raised.value, PageLinkExpired)


def test_no_link_outlives_the_longest_lifetime() -> None:
    token, grant = sign_compose(SECRET, RECORD, TO, ttl=MAX_TTL, now=NOW)

    assert verify_compose(SECRET, token, now=NOW + MAX_TTL - timedelta(seconds=1)) == grant
    for later in (MAX_TTL, MAX_TTL + timedelta(days=400)):
        with pytest.raises(PageLinkExpired):
            verify_compose(SECRET, token, now=NOW + later)


def test_the_url_is_the_composer_under_the_public_url() -> None:
    assert compose_url("https://mms.example.com/", "a.b.c") == (
        "https://mms.example.com/compose?token=a.b.c"
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
