"""A send's media as the rules need them: size and first bytes, from uploads or from URLs.

A URL is fetched once, through the same guarded downloader as inbound media (public https
only, capped, timed out), and a file the line's policy accepts is kept as an upload: the send
then attaches it like any upload, and the validate answer hands its `upload_id` back so a
later submit does not download it again.

A person waits for the answer, so a request's URLs are fetched side by side and all of them
end by one deadline, `URL_DEADLINE_SECONDS` after the request began: a stuck host costs its own
medium (refused as "unknown error") and never delays the others past that.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import structlog

from connector.core import catalogue
from connector.core.catalogue import Refusal
from connector.core.errors import Permanent, Transient
from connector.core.keys import KeyRing
from connector.core.model import Provider
from connector.core.rules import Candidate
from connector.core.sniff import SNIFF_BYTES, canonical_type
from connector.media.capture import download_cap
from connector.media.fetch import MediaFetcher
from connector.media.staging import Spool, SpoolOverflow
from connector.media.store import BlobMissing, MediaStore
from connector.media.uploads import ReceivedFile, UploadRules, keep
from connector.providers.payload import attachment_name
from connector.store import sends
from connector.store.db import Database
from connector.store.sends import StoredUpload
from connector.sync.outbound.model import MediaRef

log = structlog.get_logger(__name__)

# A composer waits for the answer: a URL that takes longer than this is refused, not awaited.
URL_DEADLINE_SECONDS = 30.0
# URLs of one request fetched at once (a request holds at most `MAX_MEDIA_REFS`).
URL_FETCHES_AT_ONCE = 10


@dataclass(frozen=True)
class ResolvedMedium:
    """What the rules judge of one medium, the upload that holds it, or why it cannot be read."""

    candidate: Candidate
    upload: StoredUpload | None = None
    failure: Refusal | None = None


@dataclass(frozen=True)
class MediaSources:
    """Where a send's bytes come from and go to; built from the connector for each request."""

    database: Database
    store: MediaStore
    rules: UploadRules
    secret: KeyRing
    allow_private_urls: bool = False


def resolve(
    sources: MediaSources, refs: Sequence[MediaRef], provider: Provider
) -> list[ResolvedMedium]:
    """Each reference, in order, as a candidate for the rules of `provider`."""
    if not refs:
        return []
    wanted = [ref.upload_id for ref in refs if ref.upload_id is not None]
    with sources.database.read() as conn:
        kept = sends.stored_uploads(conn, wanted)
    urls = [(index, ref.url) for index, ref in enumerate(refs) if ref.url is not None]
    fetched = _fetch_all(sources, urls, provider) if urls else {}
    return [
        fetched[index]
        if ref.upload_id is None
        else _from_upload(sources.store, kept.get(ref.upload_id), index)
        for index, ref in enumerate(refs)
    ]


def _fetch_all(
    sources: MediaSources, urls: list[tuple[int, str]], provider: Provider
) -> dict[int, ResolvedMedium]:
    """Each URL's medium by its index, fetched side by side, all by one deadline."""
    until = time.monotonic() + URL_DEADLINE_SECONDS
    fetcher = MediaFetcher(
        allow_private=sources.allow_private_urls,
        deadline_seconds=URL_DEADLINE_SECONDS,
    )
    try:
        with ThreadPoolExecutor(min(len(urls), URL_FETCHES_AT_ONCE)) as pool:
            futures = {
                index: pool.submit(_from_url, sources, fetcher, url, index, provider, until)
                for index, url in urls
            }
            return {index: future.result() for index, future in futures.items()}
    finally:
        fetcher.close()


def _unreadable(refusal: Refusal) -> ResolvedMedium:
    # An empty candidate is refused by the rules; the caller puts `failure` in its place.
    return ResolvedMedium(candidate=Candidate(size=0), failure=refusal)


def _from_upload(store: MediaStore, upload: StoredUpload | None, index: int) -> ResolvedMedium:
    if upload is None:  # never kept, or expired by the retention
        return _unreadable(catalogue.media_unavailable(index))
    try:
        with closing(store.open(upload.content_hash, 0, SNIFF_BYTES)) as handle:
            head = handle.read(SNIFF_BYTES)
    except (BlobMissing, OSError):
        return _unreadable(catalogue.media_unavailable(index))
    return ResolvedMedium(
        candidate=Candidate(
            name=upload.name, declared_type=upload.declared_type, size=upload.size, head=head
        ),
        upload=upload,
    )


def _from_url(
    sources: MediaSources,
    fetcher: MediaFetcher,
    url: str,
    index: int,
    provider: Provider,
    until: float,
) -> ResolvedMedium:
    name = attachment_name(url, index)
    with Spool(sources.rules.spool_dir, download_cap(sources.rules.policies[provider])) as spool:
        try:
            downloaded = fetcher.download(url, spool, until=until)
        except SpoolOverflow as overflow:  # too big: the head still names the type for the rules
            return ResolvedMedium(
                candidate=Candidate(name=name, size=overflow.size, head=spool.head)
            )
        except Transient as exc:
            log.info("send.media_url_failed", index=index, reason=exc.reason, retry=True)
            return _unreadable(catalogue.unknown_error(index))
        except Permanent as exc:
            log.info("send.media_url_failed", index=index, reason=exc.reason, retry=False)
            return _unreadable(catalogue.media_unavailable(index))
        received = ReceivedFile(
            index=index,
            name=name,
            declared_type=canonical_type(downloaded.content_type),
            spool=spool,
        )
        candidate = Candidate(
            name=name, declared_type=received.declared_type, size=spool.size, head=spool.head
        )
        [result] = keep(
            sources.database, sources.store, sources.rules, sources.secret, [received], [provider]
        )
    upload = None
    if result.upload_id is not None:
        with sources.database.read() as conn:
            upload = sends.stored_uploads(conn, [result.upload_id]).get(result.upload_id)
        log.info("send.media_url_kept", index=index, host=downloaded.host, upload=result.upload_id)
    return ResolvedMedium(candidate=candidate, upload=upload)
