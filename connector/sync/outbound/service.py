"""Sending from a CRM record: the same rules as the provider apps, then one queued send job.

`check` judges a draft (the validate endpoint and the composer), `submit` judges it again and,
when the rules allow it, commits the thread, the message, its attachments and the send job in
one transaction; the job (`connector.sync.outbound.job`) talks to the provider later, so an
accepted send survives a crash and is never sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from connector.core import catalogue, phone
from connector.core.catalogue import Refusal
from connector.core.consent import ConsentChange
from connector.core.groups import SEND_REFUSAL, is_group
from connector.core.model import DeliveryStatus, Direction, Message, Provider
from connector.core.rules import AttachmentVerdict, Verdict, validate
from connector.mapping.errors import MappingError
from connector.mapping.model import LineBook
from connector.mapping.schema import LineEntry
from connector.store import consent as stored_consent
from connector.store import messages as stored_messages
from connector.store import sends
from connector.store.conversations import upsert_thread
from connector.store.queue import utcnow
from connector.store.sends import SentFile
from connector.sync.outbound import media
from connector.sync.outbound.model import (
    CheckedMedium,
    LineOffer,
    MessageNotFound,
    NotRetryable,
    SendCheck,
    SendRefused,
    SendRequest,
    SendResult,
)
from connector.sync.ports import SendParts

log = structlog.get_logger(__name__)


def line_book(connector: SendParts) -> LineBook | None:
    """The lines in force, or None while no valid `mappings/` was ever loaded."""
    try:
        return connector.registry.current().lines
    except MappingError:
        return None


def offered_lines(connector: SendParts) -> list[LineOffer]:
    """The lines a CRM user may send from, with their provider's limits, for the composer."""
    book = line_book(connector)
    if book is None:
        return []
    settings = connector.settings
    offers = []
    for entry in book:
        policy = settings.policy(entry.provider)
        account = settings.account_state(entry.provider)
        offers.append(
            LineOffer(
                number=entry.number,
                provider=entry.provider,
                label=entry.label,
                mms_capable=entry.mms_capable,
                max_files=policy.outbound_max_files,
                max_total_bytes=policy.max_total_bytes,
                accepted_types=sorted(policy.accepted_types),
                max_file_bytes=dict(sorted(policy.max_file_bytes.items())),
                countries=sorted(policy.countries),
                account_state=account,
                account_enabled=account not in policy.disabled_account_states,
                sending_configured=connector.settings.provider(entry.provider).send_enabled,
            )
        )
    return offers


def check(connector: SendParts, request: SendRequest) -> SendCheck:
    """The rules' verdict on a draft; never sends. URL media are fetched once and kept as
    uploads (their ids are in `media`), so a later submit reuses them."""
    book = line_book(connector)
    entry = book.get(request.from_) if book is not None else None
    to = phone.try_normalize(request.to)
    message_errors: list[Refusal] = []
    if entry is None:
        message_errors.append(catalogue.line_not_listed(request.from_))
    if to is None and is_group(request.to.strip()):
        # A group thread's party (`group:…`), e.g. copied from /v1/threads: nothing to send to.
        refusal = Refusal(code=catalogue.Code.NUMBER_NOT_ELIGIBLE, message=SEND_REFUSAL)
        message_errors.append(refusal)
    elif to is None:
        message_errors.append(
            catalogue.number_not_eligible(request.to, "recipient", _countries(connector, entry))
        )
    if not request.text.strip() and not request.media:
        message_errors.append(catalogue.message_empty())
    if entry is None:
        verdict = Verdict(
            direction=Direction.OUTBOUND,
            errors=tuple(message_errors),
            attachments=(),
            total_bytes=0,
            max_total_bytes=0,
            max_files=0,
        )
        return SendCheck(verdict, None, list(verdict.errors), [], False, to)

    settings = connector.settings
    sources = media.MediaSources(
        connector.database,
        connector.media_store,
        connector.upload_rules,
        connector.secret,
        allow_private_urls=settings.media.allow_private_urls,
    )
    resolved = media.resolve(sources, request.media, entry.provider)
    verdict = validate(
        settings.policy(entry.provider),
        line=entry.to_line(),
        other_party=to or request.to,
        attachments=[item.candidate for item in resolved],
        direction=Direction.OUTBOUND,
        account=settings.account_state(entry.provider),
        consent=recipient_consent(connector, to),
    )
    verdict = _amended(verdict, message_errors, [item.failure for item in resolved])
    drop = request.on_invalid_media == "drop"
    dropped = [error for a in verdict.attachments for error in a.errors] if drop else []
    if drop:
        sendable = verdict.ok_with_drop and bool(request.text.strip() or verdict.kept)
        if verdict.ok_with_drop and not sendable:
            verdict = verdict.model_copy(update={"errors": (catalogue.message_empty(),)})
    else:
        sendable = verdict.ok
    pairs = list(zip(verdict.attachments, resolved, strict=True))
    return SendCheck(
        verdict=verdict,
        line=entry,
        errors=verdict.all_errors(),
        dropped=dropped,
        sendable=sendable,
        to=to,
        media=[_checked(a, item.upload) for a, item in pairs],
        uploads={a.index: item.upload for a, item in pairs if item.upload is not None},
    )


def recipient_consent(connector: SendParts, number: str | None) -> ConsentChange | None:
    """The recipient's consent state, read fresh on every check: a STOP committed a moment ago
    refuses the very next send."""
    if number is None:
        return None
    with connector.database.read() as conn:
        return stored_consent.current(conn, number)


def _countries(connector: SendParts, entry: LineEntry | None) -> frozenset[str]:
    if entry is not None:
        return connector.settings.policy(entry.provider).countries
    return frozenset().union(*(connector.settings.policy(p).countries for p in Provider))


def _amended(
    verdict: Verdict, message_errors: Sequence[Refusal], failures: Sequence[Refusal | None]
) -> Verdict:
    """The engine's verdict with what only the send knows: an unreadable recipient or an empty
    message, and the reason a medium could not be read in place of the engine's generic one."""
    errors = list(dict.fromkeys([*message_errors, *verdict.errors]))
    files = tuple(
        a.model_copy(update={"errors": (failure,)}) if failure is not None else a
        for a, failure in zip(verdict.attachments, failures, strict=True)
    )
    return verdict.model_copy(update={"errors": tuple(errors), "attachments": files})


def _checked(verdict: AttachmentVerdict, upload: sends.StoredUpload | None) -> CheckedMedium:
    return CheckedMedium(
        index=verdict.index,
        name=verdict.name,
        sniffed_type=verdict.sniffed_type,
        size=verdict.size,
        upload_id=upload.id if upload else None,
        errors=verdict.errors,
    )


def submit(connector: SendParts, request: SendRequest) -> SendResult:
    """Accept a send: one transaction holds the thread, the `queued` message, its attachments
    (the uploads' blobs) and the send job. Raises `SendRefused` with every refusal otherwise."""
    checked = check(connector, request)
    if not checked.sendable:
        raise SendRefused(checked.errors)
    entry, to = checked.line, checked.to
    assert entry is not None and to is not None
    files = [
        SentFile(
            name=upload.name,
            declared_type=upload.declared_type,
            sniffed_type=checked.verdict.attachments[index].sniffed_type,
            size=upload.size,
            content_hash=upload.content_hash,
        )
        for index in checked.verdict.kept
        if (upload := checked.uploads.get(index)) is not None
    ]
    now = utcnow()
    thread = Message(
        provider=entry.provider,
        provider_message_id="",
        direction=Direction.OUTBOUND,
        line_number=entry.number,
        other_party=to,
        text=request.text,
        status=DeliveryStatus.QUEUED,
        sent_at=now,
    )
    with connector.database.begin() as conn:
        thread_id = upsert_thread(conn, thread)
        message_id = sends.insert_outbound(
            conn,
            thread_id=thread_id,
            provider=entry.provider,
            text=request.text,
            origin=request.crm.model_dump() if request.crm else None,
            now=now,
        )
        sends.insert_sent_attachments(conn, message_id, files, now)
        sends.enqueue_send(conn, message_id, entry.provider, thread_id)
    log.info(
        "send.queued",
        message_id=message_id,
        provider=entry.provider.value,
        line=phone.mask(entry.number),
        to=phone.mask(to),
        media=len(files),
        dropped=len(checked.dropped),
        crm=request.crm.system if request.crm else None,
    )
    return SendResult(message_id=message_id, status=DeliveryStatus.QUEUED, dropped=checked.dropped)


def retry_send(connector: SendParts, message_id: int) -> SendResult:
    """The admin's one-click retry of a send whose outcome is unknown (or that was not sent).

    Never automatic: whoever clicks has checked the provider's inbox first, since the earlier
    attempt may have reached the recipient.
    """
    with connector.database.begin() as conn:
        stored = stored_messages.load(conn, message_id)
        if stored is None:
            raise MessageNotFound(f"no message {message_id}")
        if not sends.was_sent_by_connector(conn, message_id):
            raise NotRetryable(f"message {message_id} was not sent by this connector")
        status = stored.message.status
        if not sends.reopen(conn, message_id, status):
            raise NotRetryable(
                f"message {message_id} is {status.label}; only Unknown or Not sent sends can be "
                "sent again"
            )
        sends.enqueue_send(conn, message_id, stored.message.provider, stored.thread_id)
    log.info("send.retried", message_id=message_id, previous=status.value)
    return SendResult(message_id=message_id, status=DeliveryStatus.QUEUED)
