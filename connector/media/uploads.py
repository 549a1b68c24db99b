"""Files uploaded for a later send (`POST /v1/uploads`), judged by the same rules as a send.

The multipart body is parsed as it arrives and each file goes straight to a capped spool on
disk: a request larger than any policy allows is cut off at the cap, never buffered whole (the
framework's own form parsing would read the entire body first). A file that some provider's
policy accepts is kept in the media store; the answer gives each file's sniffed type, size and
verdict per provider, with the catalogue's exact texts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import insert

from connector.core import catalogue
from connector.core.catalogue import Refusal
from connector.core.keys import KeyRing
from connector.core.model import Direction, Line, Provider
from connector.core.policy import MmsPolicy
from connector.core.rules import AttachmentVerdict, Candidate, validate
from connector.core.sniff import canonical_type, sniff
from connector.media.links import upload_url
from connector.media.staging import CAP_MARGIN_BYTES, Spool, SpoolOverflow
from connector.media.store import MediaStore
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import uploads

FIELD_BYTES = 16 * 1024  # a non-file field (none is expected) is read up to this, then refused
PART_OVERHEAD_BYTES = 16 * 1024


class MalformedUpload(ValueError):
    """Not a multipart body we can read (400)."""


class UploadRefused(Exception):
    """The rules refuse the request as a whole: too large (413) or too many files (422)."""

    def __init__(self, status: int, refusals: Sequence[Refusal]) -> None:
        super().__init__(refusals[0].message if refusals else "refused")
        self.status = status
        self.refusals = list(refusals)


@dataclass
class ReceivedFile:
    index: int
    name: str
    declared_type: str | None
    spool: Spool


@dataclass(frozen=True)
class UploadResult:
    """One uploaded file: what it is, what each provider's rules say, and its id when kept."""

    index: int
    name: str
    sniffed_type: str
    size: int
    upload_id: int | None
    url: str | None
    verdicts: dict[Provider, AttachmentVerdict]

    @property
    def kept(self) -> bool:
        return self.upload_id is not None


@dataclass(frozen=True)
class UploadRules:
    """What judging and keeping uploads needs besides the store, decided by the composition
    root: each provider's rules, the base of the links handed out, where bytes wait."""

    policies: Mapping[Provider, MmsPolicy]
    public_url: str
    spool_dir: Path


@dataclass(frozen=True)
class UploadLimits:
    """The largest file any policy takes (plus the margin) and how many files one request holds."""

    file_cap: int
    largest_file: int
    max_files: int

    @property
    def body_cap(self) -> int:
        return self.max_files * (self.file_cap + PART_OVERHEAD_BYTES) + FIELD_BYTES

    @classmethod
    def of(cls, rules: Mapping[Provider, MmsPolicy], providers: Sequence[Provider]) -> UploadLimits:
        policies = [rules[provider] for provider in providers]
        largest = max(policy.largest_file_bytes for policy in policies)
        return cls(
            file_cap=largest + CAP_MARGIN_BYTES,
            largest_file=largest,
            max_files=max(policy.max_files for policy in policies),
        )


@dataclass
class _FormReader:
    """python-multipart callbacks that stream each file part into its own spool."""

    spool_dir: Path
    limits: UploadLimits
    files: list[ReceivedFile] = field(default_factory=list)
    _header_field: bytearray = field(default_factory=bytearray)
    _header_value: bytearray = field(default_factory=bytearray)
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _current: ReceivedFile | None = None
    _field_bytes: int = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._current = None
        self._field_bytes = 0

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).strip().lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data":
            raise MalformedUpload("each part needs a Content-Disposition: form-data header")
        filename = options.get(b"filename")
        if filename is None:
            return  # a plain field: read and ignored (bounded in `_part_data`)
        if len(self.files) >= self.limits.max_files:
            raise UploadRefused(422, [catalogue.too_many_files(self.limits.max_files)])
        declared = self._headers.get(b"content-type")
        self._current = ReceivedFile(
            index=len(self.files),
            name=filename.decode("utf-8", "replace"),
            declared_type=canonical_type(declared.decode("latin-1")) if declared else None,
            spool=Spool(self.spool_dir, self.limits.file_cap),
        )
        self.files.append(self._current)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            self._field_bytes += end - start
            if self._field_bytes > FIELD_BYTES:
                raise MalformedUpload(f"a form field is longer than {FIELD_BYTES} bytes")
            return
        try:
            self._current.spool.write(data[start:end])
        except SpoolOverflow:
            limit = catalogue.file_too_large(self.limits.largest_file, self._current.index)
            raise UploadRefused(413, [limit]) from None

    def _part_end(self) -> None:
        self._current = None


async def read_files(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    content_length: int | None,
    *,
    spool_dir: Path,
    limits: UploadLimits,
) -> list[ReceivedFile]:
    """Parse a multipart body as it streams in; each file ends in a capped spool."""
    mime, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise MalformedUpload("the body must be multipart/form-data with a boundary")
    if content_length is not None and content_length > limits.body_cap:
        size = catalogue.file_too_large(limits.largest_file)
        raise UploadRefused(413, [size])
    reader = _FormReader(spool_dir=spool_dir, limits=limits)
    received = 0
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
        async for chunk in chunks:
            received += len(chunk)
            if received > limits.body_cap:
                raise UploadRefused(413, [catalogue.file_too_large(limits.largest_file)])
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        _close(reader.files)
        raise MalformedUpload(f"the multipart body cannot be read: {exc}") from None
    except BaseException:
        _close(reader.files)
        raise
    if not reader.files:
        raise MalformedUpload("the body holds no file part")
    return reader.files


def judge(
    policies: Mapping[Provider, MmsPolicy], received: ReceivedFile, providers: Sequence[Provider]
) -> dict[Provider, AttachmentVerdict]:
    """The rules' verdict on this one file for each provider, as a send would meet it."""
    candidate = Candidate(
        name=received.name,
        declared_type=received.declared_type,
        size=received.spool.size,
        head=received.spool.head,
    )
    return {
        provider: validate(
            policies[provider],
            line=Line(number="", provider=provider),
            other_party="",
            attachments=[candidate],
            direction=Direction.OUTBOUND,
            mms=False,  # numbers are the send's business: judge the file alone
        ).attachments[0]
        for provider in providers
    }


def keep(
    database: Database,
    store: MediaStore,
    rules: UploadRules,
    secret: KeyRing,
    files: Sequence[ReceivedFile],
    providers: Sequence[Provider],
) -> list[UploadResult]:
    """Store every file some provider accepts and record it; judge all of them."""
    results = []
    for received in files:
        verdicts = judge(rules.policies, received, providers)
        sniffed = canonical_type(sniff(received.spool.head)) or ""
        upload_id: int | None = None
        url: str | None = None
        if any(verdict.ok for verdict in verdicts.values()):
            blob = store.put(received.spool.chunks())
            with database.begin() as conn:
                upload_id = int(
                    conn.execute(
                        insert(uploads)
                        .values(
                            name=received.name[:255],
                            declared_type=received.declared_type,
                            sniffed_type=sniffed,
                            size=blob.size,
                            content_hash=blob.content_hash,
                            state=AttachmentState.STORED.value,
                            created_at=utcnow(),
                        )
                        .returning(uploads.c.id)
                    ).scalar_one()
                )
            url = upload_url(rules.public_url, secret, upload_id)
        results.append(
            UploadResult(
                index=received.index,
                name=received.name,
                sniffed_type=sniffed,
                size=received.spool.size,
                upload_id=upload_id,
                url=url,
                verdicts=verdicts,
            )
        )
    return results


async def receive_uploads(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    content_length: int | None,
    *,
    rules: UploadRules,
    database: Database,
    store: MediaStore,
    secret: KeyRing,
    provider: Provider | None = None,
) -> list[UploadResult]:
    """The whole of `POST /v1/uploads`: stream, judge, keep. Raises `MalformedUpload` or
    `UploadRefused` for the API to translate."""
    providers = [provider] if provider else list(Provider)
    limits = UploadLimits.of(rules.policies, providers)
    files = await read_files(
        chunks,
        content_type,
        content_length,
        spool_dir=rules.spool_dir,
        limits=limits,
    )
    try:
        return await anyio.to_thread.run_sync(
            lambda: keep(database, store, rules, secret, files, providers)
        )
    finally:
        _close(files)


def _close(files: Sequence[ReceivedFile]) -> None:
    for received in files:
        with contextlib.suppress(OSError):
            received.spool.close()
