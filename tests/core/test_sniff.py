"""A file's type is decided by its bytes; `.jpg` and `.jpeg` are one type."""

from __future__ import annotations

import pytest

from connector.core.sniff import UNKNOWN_TYPE, canonical_type, sniff
from tests.core.factories import MAGIC


@pytest.mark.parametrize(
    ("kind", "mime"),
    [
        pytest.param("png", "image/png", id="png"),
        pytest.param("jpeg", "image/jpeg", id="jpeg"),
        pytest.param("gif", "image/gif", id="gif"),
        pytest.param("pdf", "application/pdf", id="pdf"),
    ],
)
def test_sniff_reads_the_type_from_magic_bytes(kind: str, mime: str):
    assert sniff(MAGIC[kind]) == mime


@pytest.mark.parametrize("kind", ["elf", "pe", "html"])
def test_sniff_never_calls_other_content_an_accepted_type(kind: str):
    assert sniff(MAGIC[kind]) not in {"image/png", "image/jpeg", "image/gif", "application/pdf"}


@pytest.mark.parametrize("head", [b"", b"\x00", b"hello, world"])
def test_sniff_of_empty_or_unrecognisable_content_is_octet_stream(head: bytes):
    assert sniff(head) == UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        pytest.param("image/jpg", "image/jpeg", id="jpg is jpeg"),
        pytest.param("image/pjpeg", "image/jpeg", id="pjpeg is jpeg"),
        pytest.param("image/JPEG; charset=binary", "image/jpeg", id="parameters and case"),
        pytest.param("application/x-pdf", "application/pdf", id="x-pdf is pdf"),
        pytest.param("image/png", "image/png", id="already canonical"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_canonical_type_folds_aliases_into_one_type(given: str | None, canonical: str | None):
    assert canonical_type(given) == canonical
