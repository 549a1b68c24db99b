"""The `send_message` job: hands one queued message to its provider, at most once.

The protocol, each step its own transaction:

1. `queued → sending`, in the same transaction that checks this worker still holds the job
   (and renews its lease). A message found already `sending` means a worker died between
   this step and the provider's answer: it becomes `unknown`, and nothing is sent.
2. The request, outside any transaction.
3. By what the sender says happened:

   | sender                         | message                    | job                      |
   | ------------------------------ | -------------------------- | ------------------------ |
   | receipt                        | provider id, `sent` (or    | done, CRM syncs queued   |
   |                                | what the receipt says)     |                          |
   | `Transient` (never left)       | back to `queued`           | retried with backoff     |
   | `CredentialsError`             | back to `queued`           | provider paused          |
   | `OutcomeUnknown`               | `unknown` (never resent    | done, CRM syncs queued   |
   |                                | by itself)                 |                          |
   | `Permanent`                    | `not_sent`, reason kept    | done, CRM syncs queued   |
   | `RecipientOptedOut`            | `not_sent`, reason kept;   | done, CRM syncs queued   |
   |                                | the number is opted out    |                          |

Before step 1 the recipient's consent is read again: a STOP that arrived while the send was
queued settles it `not_sent` with the rule engine's refusal, and nothing is sent.

An `unknown` send goes out again only when an admin retries it (`retry_send`).
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from connector.core import phone
from connector.core.consent import ConsentChange, ConsentSource
from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    OutcomeUnknown,
    Permanent,
    RecipientOptedOut,
    Transient,
)
from connector.core.model import DeliveryStatus, Provider
from connector.core.rules import consent_refusal
from connector.media.links import attachment_url
from connector.providers.sending import OutboundMessage, SendReceipt
from connector.store import consent as stored_consent
from connector.store import queue, sends
from connector.store.conversations import set_status
from connector.store.queue import Job, utcnow
from connector.store.sends import PendingSend
from connector.sync.outbound.service import line_book, recipient_consent
from connector.sync.ports import SendParts
from connector.sync.retry import expired

log = structlog.get_logger(__name__)

SEND_MESSAGE = sends.SEND_MESSAGE


class SendJob:
    """The handler of `send_message` jobs; `job.subject` is the message id."""

    def __init__(self, connector: SendParts) -> None:
        self.connector = connector

    def __call__(self, job: Job) -> None:
        message_id = int(job.subject)
        with self.connector.database.read() as conn:
            pending = sends.pending_send(conn, message_id)
        if pending is None:
            return  # gone, or not an outbound message: nothing to send
        if pending.status is DeliveryStatus.SENDING:
            self._settle(
                pending,
                DeliveryStatus.UNKNOWN,
                "the worker sending this message stopped before the provider answered; "
                f"check {pending.provider.value} before sending it again",
            )
            return
        if pending.status is not DeliveryStatus.QUEUED:
            return  # settled already (a job run twice, or a status webhook came first)
        opted_out = self._opted_out(pending)
        if opted_out is not None:
            self._settle(pending, DeliveryStatus.NOT_SENT, opted_out)
            return
        outbound = self._outbound(pending)
        if isinstance(outbound, str):
            self._settle(pending, DeliveryStatus.NOT_SENT, outbound)
            return
        try:
            sender = self.connector.sender(pending.provider.value)
        except KeyError:
            raise CredentialsError(_not_configured(pending.provider)) from None
        if not self._start(job, pending):
            return
        try:
            receipt = sender.send(outbound)
        except (Transient, CredentialsError) as exc:
            if not self._requeue(job, pending, exc):
                raise
        except OutcomeUnknown as exc:
            self._settle(pending, DeliveryStatus.UNKNOWN, exc.reason)
        except RecipientOptedOut as exc:
            self._unsubscribed(pending, exc)
            self._settle(pending, DeliveryStatus.NOT_SENT, exc.reason)
        except Permanent as exc:
            self._settle(pending, DeliveryStatus.NOT_SENT, exc.reason)
        except ConnectorError as exc:
            self._settle(pending, DeliveryStatus.UNKNOWN, exc.reason)
        except Exception as exc:
            # The request may have left: treat it as unknown, never as retryable.
            self._settle(pending, DeliveryStatus.UNKNOWN, f"internal error: {type(exc).__name__}")
            raise
        else:
            self._sent(pending, receipt)

    # -- steps -----------------------------------------------------------------------------

    def _outbound(self, pending: PendingSend) -> OutboundMessage | str:
        """The request to make, or why the message cannot be sent any more."""
        book = line_book(self.connector)
        entry = book.get(pending.line_number) if book is not None else None
        if entry is None or entry.provider is not pending.provider:
            return (
                f"the line {phone.mask(pending.line_number)} is no longer one of this "
                "connector's lines (mappings/lines.yaml)"
            )
        if pending.unstored:
            return f"{pending.unstored} attachment(s) are no longer kept (media retention)"
        settings = self.connector.settings
        return OutboundMessage(
            line_number=entry.number,
            provider_line_id=entry.provider_line_id,
            to=pending.other_party,
            text=pending.text,
            media_urls=[
                attachment_url(settings.public_url, self.connector.secret, attachment_id)
                for attachment_id in pending.attachment_ids
            ],
        )

    def _opted_out(self, pending: PendingSend) -> str | None:
        """Why the recipient may not be sent to any more (a STOP that came while the send was
        queued), in the rule engine's words; None when they may."""
        refusal = consent_refusal(recipient_consent(self.connector, pending.other_party))
        return refusal.message if refusal is not None else None

    def _unsubscribed(self, pending: PendingSend, exc: RecipientOptedOut) -> None:
        """The provider says the recipient unsubscribed: the number is opted out from now on."""
        change = ConsentChange(
            number=pending.other_party,
            opted_out=True,
            source=ConsentSource.PROVIDER_ERROR,
            reason=exc.reason[:500],
            at=utcnow(),
            message_id=pending.message_id,
            actor=pending.provider.value,
        )
        with self.connector.database.begin() as conn:
            stored_consent.record(conn, change, crms=self.connector.crms)
        log.warning(
            "consent.opted_out_by_provider",
            message_id=pending.message_id,
            to=phone.mask(pending.other_party),
        )

    def _start(self, job: Job, pending: PendingSend) -> bool:
        """`queued → sending`, only while this worker still holds the job."""
        with self.connector.database.begin() as conn:
            if job.id not in queue.still_held(conn, [job]):
                log.warning("send.lease_lost", message_id=pending.message_id, job_id=job.id)
                return False
            return sends.mark_sending(conn, pending.message_id)

    def _requeue(self, job: Job, pending: PendingSend, exc: ConnectorError) -> bool:
        """The request never reached the provider: the message waits for the job's next run
        (False), unless the job has been failing for longer than jobs may retry: then the
        message is not sent, and that settles it (True)."""
        max_age = timedelta(hours=self.connector.settings.jobs.max_age_hours)
        if isinstance(exc, Transient) and expired(job.created_at, utcnow(), max_age):
            self._settle(
                pending,
                DeliveryStatus.NOT_SENT,
                f"gave up after {job.attempts} attempts: {exc.reason}",
            )
            return True
        with self.connector.database.begin() as conn:
            sends.back_to_queued(conn, pending.message_id, exc.reason)
        log.info(
            "send.not_yet",
            message_id=pending.message_id,
            provider=pending.provider.value,
            error=type(exc).__name__,
            reason=exc.reason,
        )
        return False

    def _settle(self, pending: PendingSend, status: DeliveryStatus, reason: str) -> None:
        """A final word on this attempt (`unknown` or `not_sent`), its reason, the CRM told."""
        with self.connector.database.begin() as conn:
            now = set_status(conn, pending.message_id, status, crms=self.connector.crms)
            if now is status:  # not when a status webhook has already said more
                sends.note_error(conn, pending.message_id, reason)
        log.warning(
            "send.failed" if status is DeliveryStatus.NOT_SENT else "send.outcome_unknown",
            message_id=pending.message_id,
            provider=pending.provider.value,
            status=now.value if now else None,
            reason=reason,
        )

    def _sent(self, pending: PendingSend, receipt: SendReceipt) -> None:
        reported = receipt.status
        if reported.rank < DeliveryStatus.SENT.rank:
            reported = DeliveryStatus.SENT  # accepted: at least sent, whatever word it used
        with self.connector.database.begin() as conn:
            earlier = sends.record_receipt(
                conn, pending.message_id, pending.provider, receipt.provider_message_id
            )
            sends.note_error(conn, pending.message_id, None)
            status = set_status(conn, pending.message_id, reported, crms=self.connector.crms)
            for report in earlier:
                status = set_status(conn, pending.message_id, report, crms=self.connector.crms)
        log.info(
            "send.sent",
            message_id=pending.message_id,
            provider=pending.provider.value,
            provider_message_id=receipt.provider_message_id,
            status=status.value if status else None,
        )


def _not_configured(provider: Provider) -> str:
    variables = {
        Provider.AIRCALL: "CONNECTOR_AIRCALL_API_ID and CONNECTOR_AIRCALL_API_TOKEN",
        Provider.CLOUDTALK: "CONNECTOR_CLOUDTALK_API_KEY_ID and CONNECTOR_CLOUDTALK_API_KEY_SECRET",
    }[provider]
    return f"sending through {provider.value} is not configured: set {variables}"
