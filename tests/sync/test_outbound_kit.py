"""The send tests' kit: lines for every refusal, a connector whose providers are respx-mocked,
uploads kept the way `POST /v1/uploads` keeps them, and the bodies each provider expects.

Imported by the outbound service tests and the `/v1/messages` API tests; its own tests check
that the kit says what the others rely on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from connector import bootstrap
from connector.bootstrap import Connector
from connector.core.sniff import canonical_type, sniff
from connector.store import migrate
from connector.store.conversations import AttachmentState
from connector.store.queue import utcnow
from connector.store.tables import jobs, messages, uploads

AIRCALL_BASE = "https://api.aircall.test"
CLOUDTALK_BASE = "https://cloudtalk.test"
PUBLIC_URL = "https://connector.example.test"

AIRCALL_LINE = "+13125550100"
AIRCALL_NUMBER_ID = "1284757"
NO_MMS_LINE = "+13125550111"
CLOUDTALK_LINE = "+16465550199"
AU_LINE = "+61491570156"
CLOUDTALK_AU_LINE = "+61491570157"
UNLISTED_LINE = "+13125550199"

US_MOBILE = "+12025550167"
CA_MOBILE = "+14165550123"
JM_MOBILE = "+18765550123"  # +1, but Jamaica
AU_MOBILE = "+61412345678"
AU_LANDLINE = "+61291234567"

AIRCALL_SEND_URL = f"{AIRCALL_BASE}/v1/numbers/{AIRCALL_NUMBER_ID}/messages/native/send"
CLOUDTALK_SEND_URL = f"{CLOUDTALK_BASE}/api/sms/send.json"

LINES_YAML = f"""\
lines:
  - number: "{AIRCALL_LINE}"
    provider: aircall
    label: US Sales
    mms_capable: true
    provider_line_id: "{AIRCALL_NUMBER_ID}"
  - number: "{NO_MMS_LINE}"
    provider: aircall
    label: SMS only
    mms_capable: false
    provider_line_id: "1284758"
  - number: "{CLOUDTALK_LINE}"
    provider: cloudtalk
    label: US Service
    mms_capable: true
  - number: "{AU_LINE}"
    provider: aircall
    label: AU Support
    mms_capable: true
    provider_line_id: "1284759"
  - number: "{CLOUDTALK_AU_LINE}"
    provider: cloudtalk
    label: AU via CloudTalk
    mms_capable: true
"""


def lines_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "send-mappings"
    folder.mkdir(exist_ok=True)
    (folder / "lines.yaml").write_text(LINES_YAML)
    return folder


def send_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Settings values for a connector that can send through both providers (respx-mocked)."""
    values: dict[str, Any] = {
        "mappings_dir": lines_dir(tmp_path),
        "public_url": PUBLIC_URL,
        "aircall_api_id": "aircall-id",
        "aircall_api_token": "aircall-token",
        "aircall_base_url": AIRCALL_BASE,
        "aircall_requests_per_minute": 60_000,
        "cloudtalk_api_key_id": "cloudtalk-id",
        "cloudtalk_api_key_secret": "cloudtalk-secret",
        "cloudtalk_base_url": CLOUDTALK_BASE,
        "cloudtalk_requests_per_minute": 60_000,
    }
    values.update(overrides)
    return values


def build_connector(tmp_path: Path, **overrides: Any) -> Connector:
    from tests.conftest import make_settings

    return bootstrap.build(make_settings(tmp_path, **send_settings(tmp_path, **overrides)))


@contextmanager
def sending_connector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connector]:
    """A connector that sends through both providers, with HubSpot on (so CRM syncs queue), on
    the database `request.param` names: "sqlite", or "postgres" (the suite's PostgreSQL)."""
    overrides: dict[str, Any] = {"hubspot_access_token": "hubspot-token"}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    built = build_connector(tmp_path, **overrides)
    if request.param == "postgres":
        migrate.upgrade(built.database)
    try:
        yield built
    finally:
        built.close()


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def run_send_jobs(connector: Connector, *, once: bool = False) -> None:
    """Run queued send jobs only (CRM syncs stay queued for the assertions); `once` runs a
    single job even when its retry, jittered down to nothing, is due again at once."""
    worker = connector.worker()
    worker.handlers = {"send_message": worker.handlers["send_message"]}
    worker.batched = {}
    if once:
        worker.run_once()
    else:
        worker.drain()


def keep_upload(connector: Connector, content: bytes, name: str = "photo.png") -> int:
    """A file kept as `POST /v1/uploads` keeps it: its blob in the store, its row `stored`."""
    blob = connector.media_store.put([content])
    with connector.database.begin() as conn:
        return int(
            conn.execute(
                insert(uploads)
                .values(
                    name=name,
                    declared_type=None,
                    sniffed_type=canonical_type(sniff(content)) or "",
                    size=blob.size,
                    content_hash=blob.content_hash,
                    state=AttachmentState.STORED.value,
                    created_at=utcnow(),
                )
                .returning(uploads.c.id)
            ).scalar_one()
        )


def message_row(connector: Connector, message_id: int) -> Any:
    with connector.database.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


def job_kinds(connector: Connector) -> list[tuple[str, str]]:
    with connector.database.read() as conn:
        return [(r.kind, r.target) for r in conn.execute(select(jobs).order_by(jobs.c.id))]


def aircall_receipt(message_id: str = "ac-msg-1", status: str = "pending") -> dict[str, Any]:
    """Aircall's answer to a native send: the message object at the top level."""
    return {"id": message_id, "status": status, "direction": "outbound"}


def cloudtalk_ok() -> dict[str, Any]:
    return {"responseData": {"status": 200, "success": True}}


def cloudtalk_refused(reason: str) -> dict[str, Any]:
    return {"responseData": {"status": 200, "success": False, "data": reason}}


def test_kit_lines_are_what_the_send_tests_rely_on(tmp_path: Path) -> None:
    connector = build_connector(tmp_path)
    book = connector.registry.current().lines
    assert book.get(AIRCALL_LINE) is not None and book.get(AIRCALL_LINE).mms_capable
    assert book.get(NO_MMS_LINE) is not None and not book.get(NO_MMS_LINE).mms_capable
    assert book.get(UNLISTED_LINE) is None
    assert sorted(connector.sender_factories) == ["aircall", "cloudtalk"]
    connector.close()
