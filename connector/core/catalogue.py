"""The user-facing refusal texts, reproduced exactly from the provider guides (README: the rules).

Every refusal the connector shows, through the API, the composer or a CRM record, is built here,
so a wording lives in one place and carries a stable code that clients can switch on.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict


class Code(enum.StrEnum):
    TOO_MANY_FILES = "too_many_files"
    FILE_TOO_LARGE = "file_too_large"
    TOTAL_TOO_LARGE = "total_too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNKNOWN_ERROR = "unknown_error"
    INBOUND_UNSUPPORTED = "inbound_unsupported"
    MEDIA_UNAVAILABLE = "media_unavailable"
    NUMBER_NOT_ELIGIBLE = "number_not_eligible"
    LINE_NOT_MMS_CAPABLE = "line_not_mms_capable"
    RECIPIENT_NOT_MMS_CAPABLE = "recipient_not_mms_capable"
    ACCOUNT_DISABLED = "account_disabled"
    LINE_NOT_LISTED = "line_not_listed"
    MESSAGE_EMPTY = "message_empty"
    RECIPIENT_OPTED_OUT = "recipient_opted_out"
    SENDING_NOT_CONFIGURED = "sending_not_configured"


INBOUND_UNSUPPORTED_TEXT = "Some media cannot be received due to unsupported format."
MEDIA_UNAVAILABLE_TEXT = "Some media is unavailable due to an error"
UNKNOWN_ERROR_TEXT = "Sorry, the problem has occurred. Please try again later"
# A medium still being captured: not an error (the Aircall rules keep MEDIA_UNAVAILABLE_TEXT for
# media that failed or expired), so it is shown as loading until its capture settles.
MEDIA_LOADING_TEXT = "Loading…"

KB = 1024
MB = 1024 * 1024

# The order in which the guides list file kinds; a policy names the subset it accepts.
_FORMAT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("application/pdf", ("pdf",)),
    ("image/jpeg", ("jpg", "jpeg")),
    ("image/png", ("png",)),
    ("image/gif", ("gif",)),
)


class Refusal(BaseModel):
    """One reason something cannot be sent or shown; `index` is the attachment's position."""

    model_config = ConfigDict(frozen=True)

    code: Code
    message: str
    index: int | None = None


def format_size(size: int) -> str:
    """`5 MB`, `600 KB`: the way the guides write limits (1 MB = 1,048,576 bytes)."""
    if size >= MB and size % MB == 0:
        return f"{size // MB} MB"
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size % KB == 0:
        return f"{size // KB} KB"
    return f"{size} bytes"


def format_list(types: frozenset[str] | set[str]) -> str:
    words = [word for mime, names in _FORMAT_WORDS if mime in types for word in names]
    extra = sorted(t.split("/")[-1] for t in types if t not in dict(_FORMAT_WORDS))
    words += extra
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + ", or " + words[-1]


def too_many_files(limit: int, index: int | None = None) -> Refusal:
    return Refusal(
        code=Code.TOO_MANY_FILES,
        message=f"You can only upload up to {limit} files. Please remove some files and try again",
        index=index,
    )


def file_too_large(limit: int, index: int | None = None) -> Refusal:
    return Refusal(
        code=Code.FILE_TOO_LARGE,
        message=(
            f"Your file size exceeds the limit of {format_size(limit)}. "
            "Please reduce the file size and try again"
        ),
        index=index,
    )


def total_too_large(limit: int, index: int | None = None) -> Refusal:
    return Refusal(
        code=Code.TOTAL_TOO_LARGE,
        message=(
            f"Your total file size exceeds the limit of {format_size(limit)}. "
            "Please reduce the file size and try again"
        ),
        index=index,
    )


def unsupported_format(accepted: frozenset[str], index: int | None = None) -> Refusal:
    return Refusal(
        code=Code.UNSUPPORTED_FORMAT,
        message=f"Only {format_list(accepted)} files are allowed for MMS",
        index=index,
    )


def unknown_error(index: int | None = None) -> Refusal:
    return Refusal(code=Code.UNKNOWN_ERROR, message=UNKNOWN_ERROR_TEXT, index=index)


def inbound_unsupported(index: int | None = None) -> Refusal:
    return Refusal(code=Code.INBOUND_UNSUPPORTED, message=INBOUND_UNSUPPORTED_TEXT, index=index)


def media_unavailable(index: int | None = None) -> Refusal:
    return Refusal(code=Code.MEDIA_UNAVAILABLE, message=MEDIA_UNAVAILABLE_TEXT, index=index)


def number_not_eligible(number: str, role: str, countries: frozenset[str]) -> Refusal:
    allowed = ", ".join(sorted(countries))
    return Refusal(
        code=Code.NUMBER_NOT_ELIGIBLE,
        message=f"MMS is only available between numbers in {allowed}; the {role} {number} is not.",
    )


def line_not_mms_capable(number: str) -> Refusal:
    return Refusal(
        code=Code.LINE_NOT_MMS_CAPABLE,
        message=(
            f"The line {number} cannot send MMS. Choose a line with the SMS MMS badge, "
            "or remove the attachments."
        ),
    )


def recipient_not_mms_capable(number: str) -> Refusal:
    return Refusal(
        code=Code.RECIPIENT_NOT_MMS_CAPABLE,
        message=f"The recipient {number} cannot receive MMS (it is a landline).",
    )


def account_disabled(state: str) -> Refusal:
    reason = {"trial": "is on a trial plan", "no_credit": "has run out of credit"}.get(
        state, f"is {state.replace('_', ' ')}"
    )
    return Refusal(
        code=Code.ACCOUNT_DISABLED,
        message=(
            f"SMS and MMS are disabled because the account {reason}. Contact your administrator."
        ),
    )


def line_not_listed(number: str) -> Refusal:
    return Refusal(
        code=Code.LINE_NOT_LISTED,
        message=f"The line {number} is not one of this connector's lines (mappings/lines.yaml).",
    )


def message_empty() -> Refusal:
    return Refusal(
        code=Code.MESSAGE_EMPTY,
        message="The message is empty. Write a text or attach a file.",
    )


def recipient_opted_out(number: str, day: str, why: str) -> Refusal:
    """`+1 415-555-0123 opted out of messages on May 1, 2026 (replied STOP).`"""
    return Refusal(
        code=Code.RECIPIENT_OPTED_OUT,
        message=f"{number} opted out of messages on {day} ({why}).",
    )


def sending_not_configured(provider: str) -> Refusal:
    return Refusal(
        code=Code.SENDING_NOT_CONFIGURED,
        message=(
            f"Sending through {provider.capitalize()} is not set up on this connector. "
            "Ask your administrator."
        ),
    )
