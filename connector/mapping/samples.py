"""Sample messages `mappings check` renders every template against, one per kind of record.

Each sample stands for a case the MMS rules give a record: text only, more media than the 4-preview,
unsupported media (the alert), nothing showable at all, outbound delivered and not sent, long
customer text with markup in it, and a busy conversation day that overflows field limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.core.catalogue import INBOUND_UNSUPPORTED_TEXT, KB
from connector.core.model import Attachment, DeliveryStatus, Direction, Line, Message
from connector.mapping.context import CapturedMessage
from connector.mapping.schema import LineEntry

SAMPLE_PUBLIC_URL = "https://connector.example.com"
SAMPLE_CONTACT = "+14155550123"
SAMPLE_TIME = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
BUSY_DAY_MESSAGES = 40


@dataclass(frozen=True)
class Sample:
    """A named message with its captured media; `day` holds a whole conversation day."""

    name: str
    captured: CapturedMessage
    day: tuple[CapturedMessage, ...] = field(default=())


def conversation_url(public_url: str = SAMPLE_PUBLIC_URL) -> str:
    return f"{public_url.rstrip('/')}/conversations/sample-thread"


def sample_messages(
    line: LineEntry | Line, *, public_url: str = SAMPLE_PUBLIC_URL, contact: str = SAMPLE_CONTACT
) -> list[Sample]:
    """Every kind of record for `line`, with stable links under `public_url`."""
    build = _Builder(line, public_url.rstrip("/"), contact)
    images = [_image(n) for n in range(1, 7)]
    video = Attachment(
        name="clip.mp4", declared_type="video/mp4", sniffed_type="video/mp4", size=900 * KB
    )
    long_text = "\n".join(
        f'Line {n}: quotes "like this", <tags> & ampersands, émojis 📷.' for n in range(1, 40)
    )
    samples = [
        build.sample("inbound text", "in-text", Direction.INBOUND, "Hi, is the order ready?"),
        build.sample(
            "inbound with 6 images", "in-images", Direction.INBOUND, "Photos of the damage", images
        ),
        build.sample(
            "inbound with unsupported media",
            "in-mixed",
            Direction.INBOUND,
            "Photo and a video",
            [images[0], video],
            alert=True,
        ),
        build.sample(
            "inbound with only unsupported media",
            "in-unsupported",
            Direction.INBOUND,
            "",
            [video],
            alert=True,
        ),
        build.sample(
            "outbound delivered with media",
            "out-delivered",
            Direction.OUTBOUND,
            "Here is your quote",
            images[:2],
            status=DeliveryStatus.DELIVERED,
        ),
        build.sample(
            "outbound not sent",
            "out-not-sent",
            Direction.OUTBOUND,
            "We tried to reach you",
            status=DeliveryStatus.NOT_SENT,
        ),
        build.sample("inbound long text", "in-long", Direction.INBOUND, long_text),
    ]
    day = tuple(
        build.sample(
            "busy day",
            f"day-{n}",
            Direction.INBOUND if n % 2 else Direction.OUTBOUND,
            long_text[:1000],
            images[:1],
            status=DeliveryStatus.RECEIVED if n % 2 else DeliveryStatus.DELIVERED,
            at=SAMPLE_TIME.replace(hour=8) + timedelta(minutes=10 * n),
        ).captured
        for n in range(BUSY_DAY_MESSAGES)
    )
    samples.append(Sample("busy day", day[-1], day))
    return samples


def _image(number: int) -> Attachment:
    return Attachment(
        name=f"photo-{number}.jpg",
        declared_type="image/jpeg",
        sniffed_type="image/jpeg",
        size=(200 + number) * KB,
    )


class _Builder:
    def __init__(self, line: LineEntry | Line, public_url: str, contact: str) -> None:
        self.line = line
        self.public_url = public_url
        self.contact = contact

    def sample(
        self,
        name: str,
        message_id: str,
        direction: Direction,
        text: str,
        attachments: list[Attachment] | None = None,
        *,
        alert: bool = False,
        status: DeliveryStatus | None = None,
        at: datetime = SAMPLE_TIME,
    ) -> Sample:
        files = tuple(attachments or ())
        message = Message(
            provider=self.line.provider,
            provider_message_id=f"sample-{message_id}",
            direction=direction,
            line_number=self.line.number,
            other_party=self.contact,
            text=text,
            attachments=files,
            status=status or DeliveryStatus.RECEIVED,
            sent_at=at,
        )
        links = [
            None if a.sniffed_type == "video/mp4" else f"{self.public_url}/media/{message_id}-{n}"
            for n, a in enumerate(files, start=1)
        ]
        captured = CapturedMessage(message, links, INBOUND_UNSUPPORTED_TEXT if alert else None)
        return Sample(name, captured)
