"""Rotating `CONNECTOR_SECRET_KEY`: the links already written into CRM records keep opening.

Each test runs the connector as an operator does a rotation: start under the old key and hand
out links; restart with the new key and the old one in `CONNECTOR_PREVIOUS_SECRET_KEYS`; later
restart without it. One data folder and database throughout, as in a real deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.config import ConfigError, load_settings
from connector.media.links import LinkKind, attachment_url, conversation_url, sign
from tests.conftest import make_settings
from tests.media.factories import png, receive, stored

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}
PUBLIC_URL = "https://connector.example.test"
OLD_KEY = "q5Vn0x2-old-key-Rk8WfJ3bT7mZ1cHs4LpA9dEy6uGi"
NEW_KEY = "Zt3Lw8c-new-key-Jx0Pq5hN2vB7fYk4Mr9SaD1gEo6U"
OLDER_KEY = "Hc6Ry1n-older-key-Wm3Tz8bQ5kV0jXp7Ls2FdA4gNe"


@contextmanager
def running(tmp_path: Path, key: str, *previous: str) -> Iterator[tuple[Connector, TestClient]]:
    """The connector started with these keys, on the one data folder of the test."""
    settings = make_settings(tmp_path, secret_key=key, previous_secret_keys=list(previous))
    connector = bootstrap.build(settings)
    try:
        with TestClient(create_app(connector)) as client:
            yield connector, client
    finally:
        connector.close()


@dataclass(frozen=True)
class WrittenLinks:
    """The links a CRM record holds: a medium and its whole conversation (paths only)."""

    medium: str
    conversation: str


def links_written_before_the_rotation(tmp_path: Path) -> WrittenLinks:
    """A received picture, and its links as the CRM sync writes them under the old key."""
    with running(tmp_path, OLD_KEY) as (connector, _):
        _, thread_id, [attachment_id] = receive(connector.database, [("damage.png", None)])
        stored(connector.database, connector.media_store, attachment_id, png(), "image/png")
        medium = attachment_url(PUBLIC_URL, connector.secret, attachment_id)
        conversation = conversation_url(PUBLIC_URL, connector.secret, thread_id)
    return WrittenLinks(
        medium=medium.removeprefix(PUBLIC_URL), conversation=conversation.removeprefix(PUBLIC_URL)
    )


def test_media_and_conversation_links_open_after_the_key_is_rotated(tmp_path: Path) -> None:
    written = links_written_before_the_rotation(tmp_path)

    with running(tmp_path, NEW_KEY, OLDER_KEY, OLD_KEY) as (_, client):
        medium = client.get(written.medium)
        assert medium.status_code == 200
        assert medium.content == png()
        page = client.get(written.conversation)
        assert page.status_code == 200
        assert client.get(written.conversation + "/media.zip").status_code == 200


def test_links_of_a_key_dropped_from_the_previous_keys_are_no_longer_valid(
    tmp_path: Path,
) -> None:
    written = links_written_before_the_rotation(tmp_path)

    with running(tmp_path, NEW_KEY) as (_, client):
        assert client.get(written.medium).status_code == 410
        page = client.get(written.conversation)
        assert page.status_code == 404
        assert "This conversation link is not valid" in page.text


def test_links_are_newly_issued_under_the_current_key_only(tmp_path: Path) -> None:
    written = links_written_before_the_rotation(tmp_path)
    medium_id = int(written.medium.removeprefix("/media/a").split(".")[0])

    with running(tmp_path, NEW_KEY, OLD_KEY) as (connector, client):
        issued = sign(connector.secret, LinkKind.ATTACHMENT, medium_id)
        page = client.get(written.conversation).text
    assert f"/media/{issued}" != written.medium
    assert f"/media/{issued}" in page  # the page links the medium anew, under the new key
    assert written.medium not in page

    with running(tmp_path, NEW_KEY) as (_, client):  # the new key alone opens them
        assert client.get(f"/media/{issued}").status_code == 200
    with running(tmp_path, OLD_KEY) as (_, client):
        assert client.get(f"/media/{issued}").status_code == 410


def test_a_composer_link_opened_across_a_rotation_still_works(tmp_path: Path) -> None:
    body = {
        "crm": {"system": "hubspot", "object": "contact", "record_id": "901"},
        "to": "+14155552671",
    }
    with running(tmp_path, OLD_KEY) as (_, client):
        answer = client.post("/v1/compose-links", json=body, headers=AUTH)
        assert answer.status_code == 201
        composer = answer.json()["url"].removeprefix(PUBLIC_URL)

    with running(tmp_path, NEW_KEY, OLD_KEY) as (_, client):
        assert client.get(composer).status_code == 200
        fresh = client.post("/v1/compose-links", json=body, headers=AUTH).json()["url"]
    with running(tmp_path, NEW_KEY) as (_, client):
        assert client.get(composer).status_code == 401
        assert client.get(fresh.removeprefix(PUBLIC_URL)).status_code == 200
    with running(tmp_path, OLD_KEY) as (_, client):
        assert client.get(fresh.removeprefix(PUBLIC_URL)).status_code == 401


@pytest.mark.parametrize(
    ("previous", "reason"),
    [
        pytest.param("change-me", "placeholder", id="placeholder"),
        pytest.param(f"{OLD_KEY},{OLD_KEY[:20]}", "entry 2 is shorter than 32 bytes", id="short"),
        pytest.param("x" * 40, "too few characters", id="one character"),
    ],
)
def test_a_weak_previous_key_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, previous: str, reason: str
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("CONNECTOR_PREVIOUS_SECRET_KEYS", previous)
    with pytest.raises(ConfigError, match="CONNECTOR_PREVIOUS_SECRET_KEYS") as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert reason in message
    for key in previous.split(","):
        assert key not in message  # no key is ever echoed, weak or strong


def test_previous_keys_are_read_comma_separated_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("CONNECTOR_PREVIOUS_SECRET_KEYS", f" {OLDER_KEY} , {OLD_KEY},")
    keys = bootstrap.load_secret(load_settings(_env_file=None))
    assert keys.verifying == (NEW_KEY.encode(), OLDER_KEY.encode(), OLD_KEY.encode())
