"""The S3-compatible media store (AWS S3, MinIO, Ceph, Cloudflare R2, GCS interop...), so API and
worker replicas need no shared disk.

The client is boto3 rather than obstore. Both stream: obstore (one native wheel, no Python
dependencies, about a third of boto3's installed size) would be the lighter dependency, but
boto3 brings what an operator expects from "the AWS variables and profile chain": environment
variables, `~/.aws` profiles and SSO, EKS web identity, ECS task roles and instance metadata,
where obstore reads profiles only through boto3 anyway. Its managed transfer (s3transfer) uploads
a file in parts that it reads from disk as it sends them (multipart above `multipart_threshold`,
so memory stays at a few parts whatever the size), `get_object` hands back a body read in chunks,
presigned URLs are computed locally, and the calls are synchronous like the worker threads and the
zip generator that use them. It is the `s3` extra, so the embedded install does not carry it.

Keys are `prefix/ab/cd/<sha256>` (the folder store's layout), so a medium captured by any replica
is one object. The bytes are hashed into a local temporary file first, because the key is the
hash: an object already there with the same size is not sent again. Any failure to reach or use
the bucket is `StoreUnavailable` (an `OSError`), which the capture job retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from connector.media.store import Blob, BlobMissing, StoreUnavailable, check_hash

try:
    import boto3
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "the S3 media store needs boto3: pip install 'mms-crm-connector[s3]'"
    ) from exc

MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024
# A blob written again is re-stamped when its last write is older than this, so a retention
# sweep (whose cut-off is at least a day back) never takes a blob that a capture just relied on.
REFRESH_AFTER = timedelta(hours=1)
_MISSING = {"404", "NoSuchKey", "NotFound"}
SPOOL_PREFIX = "s3-put-"


class S3MediaStore:
    """Blobs as objects under `prefix` in `bucket`; thread-safe (one boto3 client)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        spool_dir: Path | None = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunk: int = MULTIPART_CHUNK,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.spool_dir = spool_dir
        if spool_dir is not None:
            _sweep_leftovers(spool_dir)
        session = boto3.session.Session()
        self._client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=_config(endpoint_url, connect_timeout, read_timeout, attempts),
        )
        # `/readyz` must answer within its probe's timeout: one quick try, no retries.
        self._probe = session.client(
            "s3", endpoint_url=endpoint_url, config=_config(endpoint_url, 2.0, 3.0, 1)
        )
        # Parts go up one after the other in the calling thread: the worker already captures
        # several media at once, and memory then stays at about one part per capture.
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunk,
            use_threads=False,
        )

    def __repr__(self) -> str:
        return f"S3MediaStore(s3://{self.bucket}/{self.prefix})"

    def key(self, content_hash: str) -> str:
        check_hash(content_hash)
        return f"{self.prefix}{content_hash[:2]}/{content_hash[2:4]}/{content_hash}"

    def put(self, chunks: Iterable[bytes]) -> Blob:
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        # Named, because s3transfer reads a named file part by part instead of buffering parts.
        with tempfile.NamedTemporaryFile(dir=self.spool_dir, prefix=SPOOL_PREFIX) as spool:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            spool.flush()
            content_hash = digest.hexdigest()
            self.put_file(Path(spool.name), content_hash, size)
        return Blob(content_hash=content_hash, size=size)

    def put_file(self, path: Path, content_hash: str, size: int) -> bool:
        """Upload a file whose hash and size are known; False when the object was already
        there with that size (then only re-stamped if its last write is old)."""
        key = self.key(content_hash)
        existing = self._head(key)
        if existing is not None and existing["ContentLength"] == size:
            if existing["LastModified"] < datetime.now(UTC) - REFRESH_AFTER:
                self._call(
                    self._client.copy_object,
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    MetadataDirective="REPLACE",
                    ContentType="application/octet-stream",
                )
            return False
        self._call(
            self._client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=self._transfer,
        )
        return True

    def open(self, content_hash: str, start: int = 0, stop: int | None = None) -> BinaryIO:
        key = self.key(content_hash)
        if stop is not None and stop <= start:
            if self._head(key) is None:
                raise BlobMissing(content_hash)
            return io.BytesIO(b"")
        extra: dict[str, str] = {}
        if start or stop is not None:
            extra["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobMissing(content_hash) from None
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc
        return cast(BinaryIO, _Body(response["Body"], self))

    def stat(self, content_hash: str) -> Blob | None:
        head = self._head(self.key(content_hash))
        return None if head is None else Blob(content_hash, int(head["ContentLength"]))

    def exists(self, content_hash: str) -> bool:
        return self._head(self.key(content_hash)) is not None

    def delete(self, content_hash: str, *, if_older_than: datetime | None = None) -> bool:
        key = self.key(content_hash)
        head = self._head(key)
        if head is None:
            return False
        if if_older_than is not None and head["LastModified"] >= if_older_than:
            return False
        self._call(self._client.delete_object, Bucket=self.bucket, Key=key)
        return True

    def local_path(self, content_hash: str) -> Path | None:
        return None

    def presigned_url(
        self, content_hash: str, *, expires_in: int, content_type: str, content_disposition: str
    ) -> str:
        return str(
            self._call(
                self._client.generate_presigned_url,
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key(content_hash),
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": content_disposition,
                },
                ExpiresIn=expires_in,
            )
        )

    def check(self) -> None:
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(exc) from exc

    def sizes(self) -> dict[str, int]:
        """Every blob under the prefix: hash to size (for `media migrate`, which skips those)."""
        found: dict[str, int] = {}
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    found[item["Key"].rsplit("/", 1)[-1]] = int(item["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(exc) from exc
        return found

    def close(self) -> None:
        self._client.close()
        self._probe.close()

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        """The bucket's name and the failure's kind; never the request (it may carry a signed
        URL) nor credentials."""
        if isinstance(exc, Boto3Error) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__  # the transfer's wrapper around the S3 error
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = f"{_code(exc)} (HTTP {status})"
        else:
            reason = type(exc).__name__
        return StoreUnavailable(f"S3 bucket {self.bucket!r}: {reason}")


class _Body(io.RawIOBase):
    """An object's body, read in chunks; a failure mid-way is `StoreUnavailable` too."""

    def __init__(self, body: Any, store: S3MediaStore) -> None:
        self._body = body
        self._store = store

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            data = self._body.read(None if size is None or size < 0 else size)
        except BotoCoreError as exc:
            raise self._store._unavailable(exc) from exc
        return cast(bytes, data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def _sweep_leftovers(spool_dir: Path, older_than_seconds: float = 86400.0) -> None:
    """Remove the temporary files of uploads whose process was killed (at start-up, once)."""
    limit = time.time() - older_than_seconds
    for entry in spool_dir.glob(f"{SPOOL_PREFIX}*"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < limit:
                entry.unlink()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _config(
    endpoint_url: str | None, connect_timeout: float, read_timeout: float, attempts: int
) -> Config:
    options: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        "retries": {"max_attempts": attempts, "mode": "standard"},
        "max_pool_connections": 32,  # more than the worker's threads: no connection churn
        "signature_version": "s3v4",  # presigned URLs too (SigV2 is retired)
    }
    if endpoint_url:
        # S3-compatible servers: bucket in the path (MinIO's default), and checksums only where
        # the API requires them (several servers reject the newer default CRC trailers).
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    return Config(**options)
