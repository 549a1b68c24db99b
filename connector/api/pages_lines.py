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
from connector.core import catalogue, phone
from connector.core.catalogue import Refusal, format_list, format_size
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
    send_refusals: tuple[Refusal, ...]
    attach_reasons: tuple[str, ...]

    @property
    def send_reasons(self) -> tuple[str, ...]:
        return tuple(refusal.message for refusal in self.send_refusals)

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
        return not self.send_refusals

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


def _view(
    connector: Connector, grant: ComposeGrant, offer: LineOffer, consent: ConsentChange | None
) -> LineView:
    line = Line(
        number=offer.number,
        provider=offer.provider,
        mms_capable=offer.mms_capable,
        label=offer.label,
    )

    def verdict(mms: bool) -> tuple[Refusal, ...]:
        return validate(
            connector.settings.policy(offer.provider),
            line=line,
            other_party=grant.to,
            direction=Direction.OUTBOUND,
            account=offer.account_state,
            mms=mms,
            consent=consent,
        ).errors

    # Could this line send to this recipient at all (a text), and could it carry files?
    send = list(verdict(mms=False))
    if not offer.sending_configured:
        send.append(catalogue.sending_not_configured(offer.provider.value))
    attach = [*send, *(r for r in verdict(mms=True) if r not in send)]
    return LineView(
        offer=offer,
        send_refusals=tuple(send),
        attach_reasons=tuple(r.message for r in attach),
    )


def line_views(connector: Connector, grant: ComposeGrant) -> list[LineView]:
    consent = recipient_consent(connector, grant.to)
    return [_view(connector, grant, offer, consent) for offer in offered_lines(connector)]


def find_line(connector: Connector, grant: ComposeGrant, number: str) -> LineView | None:
    wanted = phone.try_normalize(number) or number
    return next((v for v in line_views(connector, grant) if v.offer.number == wanted), None)
