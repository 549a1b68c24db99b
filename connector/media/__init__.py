"""Media: capture each provider medium once, keep it, and serve it under the connector's links.

`connector.media` is a peer of `connector.store`: it may import the core, httpx and the store,
never the settings: the composition root (`connector.bootstrap`) hands it values
(`CaptureLimits`, `UploadRules`, the store URL).
The media store is a port (`MediaStore`) with two implementations: the folder (the embedded
default) and S3-compatible object storage (`connector.media.s3`, for replicas that share no
disk), chosen by `CONNECTOR_MEDIA_STORE_URL` (`connector.media.locations`).
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
