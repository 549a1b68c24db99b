"""Copying a folder store into a bucket (`mms-connector media migrate --to s3://...`).

Resumable: what the bucket already holds with the same size is skipped, so an interrupted copy
is finished by running it again. File names are the content hashes the folder store gave them,
so the keys in the bucket are the same ones the S3 store would have written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from connector.media.s3 import S3MediaStore

_HEX2 = re.compile(r"^[0-9a-f]{2}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FolderBlob:
    content_hash: str
    path: Path
    size: int


@dataclass
class MigrationReport:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def folder_blobs(root: Path) -> Iterator[FolderBlob]:
    """Every blob of a folder store (`root/ab/cd/<sha256>`); temporary files are not blobs."""
    if not root.is_dir():
        return
    for first in sorted(root.iterdir()):
        if not (first.is_dir() and _HEX2.match(first.name)):
            continue
        for second in sorted(first.iterdir()):
            if not (second.is_dir() and _HEX2.match(second.name)):
                continue
            for entry in sorted(second.iterdir()):
                name = entry.name
                where = first.name + second.name
                if _HASH.match(name) and name.startswith(where) and entry.is_file():
                    yield FolderBlob(name, entry, entry.stat().st_size)


def migrate_folder(
    blobs: list[FolderBlob],
    target: S3MediaStore,
    *,
    progress: Callable[[FolderBlob], None] = lambda blob: None,
) -> MigrationReport:
    """Copy `blobs` into `target`; one that fails is reported, the others still go."""
    report = MigrationReport()
    present = target.sizes()
    for blob in blobs:
        if present.get(blob.content_hash) == blob.size:
            report.skipped += 1
        else:
            try:
                target.put_file(blob.path, blob.content_hash, blob.size)
            except OSError as exc:
                report.failed.append(f"{blob.content_hash}: {exc}")
            else:
                report.copied += 1
                report.copied_bytes += blob.size
        progress(blob)
    return report
