"""Which media store a process uses, from `CONNECTOR_MEDIA_STORE_URL`.

`file:///path` (or nothing: the folder `DATA_DIR/media`) is the embedded default;
`s3://bucket/prefix` is object storage, reached at `CONNECTOR_S3_ENDPOINT_URL` when that is set
(MinIO, Ceph, R2, GCS interop...) and with the usual AWS credential chain. boto3 is imported
only when a bucket is configured, so the folder store works without the `s3` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from connector.media.store import FilesystemMediaStore, MediaStore
from connector.store.files import private_folder


@dataclass(frozen=True)
class Bucket:
    name: str
    prefix: str


def parse_store_url(url: str) -> Path | Bucket:
    """A folder or a bucket; `ValueError` naming what is wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        # file:///abs/path, or file://relative/path (netloc taken as the first folder).
        path = (
            unquote(parts.netloc + parts.path)
            if parts.netloc not in ("", "localhost")
            else (unquote(parts.path))
        )
        if not path:
            raise ValueError(f"{url!r}: a file:// URL needs a folder")
        return Path(path)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"{url!r}: an s3:// URL needs a bucket name")
        return Bucket(name=parts.netloc, prefix=unquote(parts.path).strip("/"))
    raise ValueError(f"{url!r}: a media store URL starts with file:// or s3://")


def open_store(url: str | None, *, data_dir: Path, endpoint_url: str | None = None) -> MediaStore:
    """The store `url` names; without one, the folder `media` under the data folder."""
    default = data_dir / "media"
    where = parse_store_url(url) if url else default
    if isinstance(where, Path):
        # The default folder is the connector's own and is tightened; a folder the operator
        # named is created private but otherwise left as they set it.
        return FilesystemMediaStore(private_folder(where, tighten=where == default))
    from connector.media.s3 import S3MediaStore

    return S3MediaStore(
        where.name, where.prefix, endpoint_url=endpoint_url, spool_dir=data_dir / "spool"
    )


def readiness(store: MediaStore) -> dict[str, object]:
    """For `/readyz`: whether the store answers now (a down store degrades, it does not fail:
    webhooks keep being committed, and captures wait and retry)."""
    try:
        store.check()
    except OSError as exc:
        return {"ok": False, "store": repr(store), "error": f"unreachable: {exc}"}
    return {"ok": True, "store": repr(store)}
