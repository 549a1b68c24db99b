"""The lines a composer offers, each with what the rules say of an MMS from it to the recipient.

The list and the limits are the send service's (`offered_lines`: only the configured lines);
whether a line can carry an MMS to this recipient, and why not, is the rule engine's answer for
an MMS with no file yet (`validate(..., mms=True)`, with the recipient's consent state), so the
page greys out exactly what a send would refuse, with the same words: a recipient who opted out
disables Send on every line, with the refusal's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.api.pages_render import display_number
from connector.bootstrap import Connector
from connector.core import phone
from connector.core.catalogue import Code, format_list, format_size
from connector.core.consent import ConsentChange
from connector.core.model import Direction, Line
from connector.core.rules import validate
from connector.media.page_links import ComposeGrant
from connector.sync.outbound import LineOffer, offered_lines
from connector.sync.outbound.service import recipient_consent

# The extensions a file picker suggests for each accepted type (a hint: the bytes decide).
_EXTENSIONS = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "application/pdf": (".pdf",),
}


@dataclass(frozen=True)
class LineView:
    """One offered line as the composer shows it: what it may do, and why not."""

    offer: LineOffer
    send_reasons: tuple[str, ...]
    attach_reasons: tuple[str, ...]

    @property
    def line(self) -> Line:
        offer = self.offer
        return Line(
            number=offer.number,
            provider=offer.provider,
            mms_capable=offer.mms_capable,
            label=offer.label,
        )

    @property
    def can_send(self) -> bool:
        return not self.send_reasons

    @property
    def can_attach(self) -> bool:
        return not self.attach_reasons

    def public(self) -> dict[str, Any]:
        """What the page's script needs: the line, its state with reasons, its limits."""
        offer = self.offer
        accepted = offer.accepted_types
        return {
            "number": offer.number,
            "display": display_number(offer.number),
            "label": offer.label,
            "provider": offer.provider.value,
            "mmsCapable": offer.mms_capable,
            "canSend": self.can_send,
            "canAttach": self.can_attach,
            "sendReasons": list(self.send_reasons),
            "attachReasons": list(self.attach_reasons),
            "maxFiles": offer.max_files,
            "maxTotalBytes": offer.max_total_bytes,
            "maxTotalLabel": format_size(offer.max_total_bytes),
            "largestFileBytes": max(offer.max_file_bytes.values(), default=offer.max_total_bytes),
            "accept": ",".join(
                [*accepted, *(ext for mime in accepted for ext in _EXTENSIONS.get(mime, ()))]
            ),
            "acceptedLabel": format_list(frozenset(accepted)),
        }


def _not_configured(offer: LineOffer) -> str:
    return (
        f"Sending through {offer.provider.value.capitalize()} is not set up on this connector. "
        "Ask your administrator."
    )


# Refusals that block any send from the line, files or not; the others only block attaching.
_SEND_BLOCKERS = frozenset({Code.RECIPIENT_OPTED_OUT, Code.ACCOUNT_DISABLED})


def _view(
    connector: Connector, grant: ComposeGrant, offer: LineOffer, consent: ConsentChange | None
) -> LineView:
    line = Line(
        number=offer.number,
        provider=offer.provider,
        mms_capable=offer.mms_capable,
        label=offer.label,
    )
    verdict = validate(
        connector.settings.policy(offer.provider),
        line=line,
        other_party=grant.to,
        direction=Direction.OUTBOUND,
        account=offer.account_state,
        mms=True,  # could this line carry files to this recipient at all?
        consent=consent,
    )
    account = [r.message for r in verdict.errors if r.code in _SEND_BLOCKERS]
    mms = [r.message for r in verdict.errors if r.code not in _SEND_BLOCKERS]
    send = account if offer.sending_configured else [*account, _not_configured(offer)]
    return LineView(offer=offer, send_reasons=tuple(send), attach_reasons=tuple([*send, *mms]))


def line_views(connector: Connector, grant: ComposeGrant) -> list[LineView]:
    consent = recipient_consent(connector, grant.to)
    return [_view(connector, grant, offer, consent) for offer in offered_lines(connector)]


def find_line(connector: Connector, grant: ComposeGrant, number: str) -> LineView | None:
    wanted = phone.try_normalize(number) or number
    return next((v for v in line_views(connector, grant) if v.offer.number == wanted), None)
