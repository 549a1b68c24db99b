"""Sending MMS from CRM records: the send service, the send job, and the views of the result.

A send obeys exactly the MMS rules (README) (the same `connector.core.rules.validate` as inbound
media and the composer), is committed as a `queued` message with its send job, and reaches the
provider at most once; its statuses and its CRM records follow the same paths as every message.
"""

from connector.sync.outbound.job import SEND_MESSAGE, SendJob
from connector.sync.outbound.model import (
    CheckedMedium,
    CrmOriginIn,
    LineOffer,
    MediaRef,
    MessageNotFound,
    NotRetryable,
    SendCheck,
    SendRefused,
    SendRequest,
    SendResult,
)
from connector.sync.outbound.service import check, offered_lines, retry_send, submit
from connector.sync.outbound.views import (
    AttachmentView,
    MessageView,
    ThreadView,
    message_view,
    sends_to_check,
    thread_view,
)

__all__ = [
    "SEND_MESSAGE",
    "AttachmentView",
    "CheckedMedium",
    "CrmOriginIn",
    "LineOffer",
    "MediaRef",
    "MessageNotFound",
    "MessageView",
    "NotRetryable",
    "SendCheck",
    "SendJob",
    "SendRefused",
    "SendRequest",
    "SendResult",
    "ThreadView",
    "check",
    "message_view",
    "offered_lines",
    "retry_send",
    "sends_to_check",
    "submit",
    "thread_view",
]
