"""Small builders for the core tests: real magic bytes in `head`, `size` exactly as given."""

from __future__ import annotations

from collections.abc import Sequence

from connector.core import catalogue
from connector.core.consent import ConsentChange
from connector.core.model import AccountState, Direction, Line, Provider
from connector.core.policy import MmsPolicy
from connector.core.rules import Candidate, Verdict, validate

KB = catalogue.KB
MB = catalogue.MB

# Numbers the phone metadata holds valid, chosen for what each one proves.
US_MOBILE = "+12025550167"
US_OTHER = "+12125551234"
CA_MOBILE = "+14165550123"
JM_MOBILE = "+18765550123"  # begins with +1 but is Jamaica
AU_MOBILE = "+61412345678"
AU_OTHER_MOBILE = "+61412345679"
AU_LANDLINE = "+61291234567"  # 02: a Sydney landline
UK_MOBILE = "+447700900123"

# The first bytes of each kind of content the tests offer.
MAGIC: dict[str, bytes] = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    "gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    "elf": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00",
    "pe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8\x00",
    "html": b"<!DOCTYPE html><html><script>alert(1)</script></html>",
}

EXTENSION = {"png": "png", "jpeg": "jpg", "gif": "gif", "pdf": "pdf", "elf": "bin", "pe": "exe"}


def candidate(
    kind: str,
    size: int,
    *,
    name: str | None = None,
    declared_type: str | None = None,
) -> Candidate:
    """A file of `size` bytes whose content starts like a real `kind` file."""
    head = MAGIC[kind]
    return Candidate(
        name=name if name is not None else f"file.{EXTENSION.get(kind, kind)}",
        declared_type=declared_type,
        size=size,
        head=head[:size],
    )


def png(size: int = 10 * KB, name: str = "photo.png") -> Candidate:
    return candidate("png", size, name=name)


def jpeg(size: int = 10 * KB, name: str = "photo.jpg") -> Candidate:
    return candidate("jpeg", size, name=name)


def gif(size: int = 10 * KB, name: str = "anim.gif") -> Candidate:
    return candidate("gif", size, name=name)


def pdf(size: int = 10 * KB, name: str = "quote.pdf") -> Candidate:
    return candidate("pdf", size, name=name)


def elf_named_png(size: int = 10 * KB) -> Candidate:
    """An executable dressed as a picture: name and declared type both lie."""
    return candidate("elf", size, name="holiday.png", declared_type="image/png")


def pe_named_png(size: int = 10 * KB) -> Candidate:
    return candidate("pe", size, name="invoice.png", declared_type="image/png")


def empty(name: str = "empty.png") -> Candidate:
    return Candidate(name=name, declared_type="image/png", size=0, head=b"")


def pictures(count: int, size: int = 10 * KB) -> list[Candidate]:
    """`count` small PNGs named apart."""
    return [png(size, name=f"photo-{i}.png") for i in range(count)]


def line(number: str, provider: Provider, mms_capable: bool = True) -> Line:
    return Line(number=number, provider=provider, mms_capable=mms_capable)


def send(
    policy: MmsPolicy,
    attachments: Sequence[Candidate] = (),
    *,
    line_number: str | None = None,
    other_party: str | None = None,
    mms_capable_line: bool = True,
    account: AccountState = AccountState.ACTIVE,
    other_party_mms_capable: bool | None = None,
    mms: bool | None = None,
    consent: ConsentChange | None = None,
) -> Verdict:
    """`validate` for an outbound message between two eligible US numbers unless told otherwise."""
    return validate(
        policy,
        line=line(line_number or US_MOBILE, policy.provider, mms_capable_line),
        other_party=other_party or US_OTHER,
        attachments=attachments,
        direction=Direction.OUTBOUND,
        account=account,
        other_party_mms_capable=other_party_mms_capable,
        mms=mms,
        consent=consent,
    )


def receive(policy: MmsPolicy, attachments: Sequence[Candidate]) -> Verdict:
    """`validate` for a received message: the other party sent it to our line."""
    return validate(
        policy,
        line=line(US_MOBILE, policy.provider),
        other_party=US_OTHER,
        attachments=attachments,
        direction=Direction.INBOUND,
    )


def codes(verdict: Verdict) -> list[str]:
    """Every refusal code of a verdict, message-level first, in order."""
    return [refusal.code.value for refusal in verdict.all_errors()]
