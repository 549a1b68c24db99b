"""A CRM record owns the threads of the numbers the connector matched to it and of the messages
it logged on it, and only those; its messages page newest first, on both databases."""

from __future__ import annotations

from datetime import timedelta

from connector.core.model import CrmContact
from connector.store import conversations, crm_records
from connector.store.crm_cache import SqlContactCache
from connector.store.db import Database
from connector.store.record_threads import recent_messages, record_threads
from tests.factories import SENT_AT, message, received_event, webhook_body

ALICE = "+14155552671"
ALICE_MOBILE = "+14155552672"
BOB = "+14155553000"


def receive(database: Database, other_party: str, minutes: int, line: str = "+13125550100") -> int:
    msg = message(
        other_party=other_party,
        line_number=line,
        sent_at=SENT_AT + timedelta(minutes=minutes),
        attachments=(),
    )
    event = received_event(msg)
    with database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event), crms=())
    assert result.message_id is not None
    return result.message_id


def test_a_record_owns_the_threads_of_its_matched_numbers_and_logged_messages(
    database: Database,
) -> None:
    receive(database, ALICE, 1)
    logged = receive(database, ALICE_MOBILE, 5)
    receive(database, BOB, 9)
    SqlContactCache(database).put("hubspot", ALICE, CrmContact(crm_object="contacts", crm_id="901"))
    SqlContactCache(database).put("hubspot", BOB, CrmContact(crm_object="contacts", crm_id="902"))
    with database.begin() as conn:
        crm_records.remember(
            conn,
            "hubspot",
            logged,
            record_key="k",
            crm_object="communications",
            crm_id="c-1",
            contact_id="901",
        )

    with database.read() as conn:
        mine = record_threads(conn, "hubspot", "901")
        elsewhere = record_threads(conn, "salesforce", "901")

    assert [t.other_party for t in mine] == [ALICE_MOBILE, ALICE]  # latest activity first
    assert elsewhere == []


def test_a_reserved_number_is_nobodys(database: Database) -> None:
    receive(database, ALICE, 1)
    assert SqlContactCache(database).reserve("hubspot", ALICE)
    with database.read() as conn:
        assert record_threads(conn, "hubspot", "") == []


def test_messages_page_newest_first_and_the_last_page_says_so(database: Database) -> None:
    ids = [receive(database, ALICE, minute) for minute in (1, 2, 2, 3, 4)]
    SqlContactCache(database).put("hubspot", ALICE, CrmContact(crm_object="contacts", crm_id="901"))
    with database.read() as conn:
        thread_ids = [t.id for t in record_threads(conn, "hubspot", "901")]
        first, after = recent_messages(conn, thread_ids, limit=2)
        second, after2 = recent_messages(conn, thread_ids, limit=2, before=after)
        third, end = recent_messages(conn, thread_ids, limit=2, before=after2)
        stranger, none = recent_messages(conn, thread_ids, limit=2, before=10**9)

    newest_first = [ids[4], ids[3], ids[2], ids[1], ids[0]]  # equal times: the later id first
    assert [m.id for m in first + second + third] == newest_first
    assert after == ids[3] and after2 == ids[1] and end is None
    assert (stranger, none) == ([], None)
