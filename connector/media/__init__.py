"""Media: capture each provider medium once, keep it, and serve it under the connector's links.

`connector.media` is a peer of `connector.store`: it may import the core, httpx and the store.
The media store is a port (`MediaStore`) with a filesystem implementation; an S3-compatible one
can stand in for replicas that do not share a disk.
"""

from connector.media.capture import MediaCapture
from connector.media.fetch import MediaFetcher, UnsafeMediaUrl, is_public_address
from connector.media.links import LinkKind, LinkTarget, media_url, sign, verify
from connector.media.status import MediaLink, attachment_links, captures_settled, media_alert
from connector.media.store import Blob, BlobMissing, FilesystemMediaStore, MediaStore

__all__ = [
    "Blob",
    "BlobMissing",
    "FilesystemMediaStore",
    "LinkKind",
    "LinkTarget",
    "MediaCapture",
    "MediaFetcher",
    "MediaLink",
    "MediaStore",
    "UnsafeMediaUrl",
    "attachment_links",
    "captures_settled",
    "is_public_address",
    "media_alert",
    "media_url",
    "sign",
    "verify",
]
