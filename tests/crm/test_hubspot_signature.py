"""HubSpot's signature v3 as the connector checks it: base64 HMAC-SHA256 of method + URI + body
+ timestamp under the app's client secret, refused when older than 5 minutes, altered, or signed
with another secret. The expected values are computed here with hmac, not by the module."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from connector.crm.hubspot.signature import SignatureRejected, sign_v3, signed_uri, verify_v3

SECRET = "3a9e5c1f-7b2d-4e8a-9c6f-0d1b2e3f4a5b"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = (
    "https://mms.example.com/v1/records/hubspot/contact/901/conversation"
    "?limit=5&userId=77&userEmail=rep%40example.com&appId=1234&portalId=62515"
)


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def hubspot_signs(method: str, uri: str, body: str, timestamp: str, secret: str = SECRET) -> str:
    """What HubSpot sends: the URI with `%40` decoded, as its guide says."""
    source = f"{method}{uri}{body}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


SIGNED_URI = URL.replace("%40", "@")


def check(
    *,
    method: str = "GET",
    url: str = URL,
    body: bytes = b"",
    signature: str | None = None,
    timestamp: str | None = None,
    now: datetime = NOW,
    secret: str = SECRET,
) -> None:
    stamp = timestamp if timestamp is not None else ms(NOW)
    if signature is None:
        signature = hubspot_signs("GET", SIGNED_URI, "", ms(NOW))
    verify_v3(
        secret, method=method, url=url, body=body, signature=signature, timestamp=stamp, now=now
    )


def test_a_request_hubspot_signed_a_moment_ago_is_accepted() -> None:
    check(now=NOW + timedelta(seconds=3))


def test_the_module_signs_exactly_as_hubspot_does() -> None:
    body = b'{"note":"caf\xc3\xa9"}'
    expected = hubspot_signs("POST", SIGNED_URI, body.decode(), ms(NOW))
    assert sign_v3(SECRET, method="post", url=URL, body=body, timestamp=ms(NOW)) == expected
    check(method="POST", body=body, signature=expected)


def test_a_request_older_than_five_minutes_is_refused_as_stale() -> None:
    check(now=NOW + timedelta(minutes=5))  # exactly five minutes: still fresh
    with pytest.raises(SignatureRejected, match="older than 5 minutes"):
        check(now=NOW + timedelta(minutes=5, milliseconds=1))


def test_a_request_dated_far_ahead_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="future"):
        check(now=NOW - timedelta(minutes=6))


def test_an_altered_body_is_refused() -> None:
    signature = hubspot_signs("POST", SIGNED_URI, '{"limit":5}', ms(NOW))
    check(method="POST", body=b'{"limit":5}', signature=signature)
    with pytest.raises(SignatureRejected, match="does not match"):
        check(method="POST", body=b'{"limit":50}', signature=signature)


@pytest.mark.parametrize(
    "altered",
    [
        URL.replace("/contact/901/", "/contact/902/"),  # another record
        URL.replace("portalId=62515", "portalId=62516"),  # another portal
        URL.replace("userId=77", "userId=78"),  # another user
        URL.replace("https://mms.example.com", "https://evil.example.com"),  # another host
        URL + "&limit=50",
    ],
    ids=["record", "portal", "user", "host", "extra query"],
)
def test_an_altered_url_is_refused(altered: str) -> None:
    with pytest.raises(SignatureRejected, match="does not match"):
        check(url=altered)


def test_another_method_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="does not match"):
        check(method="POST")


def test_a_signature_made_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="does not match"):
        check(secret="9f8e7d6c-5b4a-4321-8fed-cba987654321")


def test_a_replayed_signature_with_a_new_timestamp_is_refused() -> None:
    later = NOW + timedelta(minutes=10)
    with pytest.raises(SignatureRejected, match="does not match"):
        check(timestamp=ms(later), now=later)


@pytest.mark.parametrize(
    ("signature", "timestamp", "reason"),
    [
        (None, "1780315200000", "not signed"),
        ("", "1780315200000", "not signed"),
        ("c2lnbmF0dXJl", None, "not signed"),
        ("c2lnbmF0dXJl", "yesterday", "not a time"),
        ("c2lnbmF0dXJl", "-1", "not a time"),
        ("c2lnbmF0dXJl", "9" * 40, "not a time"),
    ],
)
def test_a_missing_or_malformed_signature_is_refused(
    signature: str | None, timestamp: str | None, reason: str
) -> None:
    with pytest.raises(SignatureRejected, match=reason):
        verify_v3(SECRET, method="GET", url=URL, body=b"", signature=signature, timestamp=timestamp)


def test_the_signed_uri_decodes_only_the_listed_escapes_and_drops_the_fragment() -> None:
    assert signed_uri("https://h/p?a=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%26%25#frag") == (
        "https://h/p?a=:/?@!$'()*,;&b=%20%26%25"
    )
