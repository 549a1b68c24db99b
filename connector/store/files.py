"""The data folder's files are the connector's alone: folders 0700, files 0600.

The folder holds the database (every message and number), the captured media and the key that
signs links, so nothing in it is readable by other users of the machine, whatever the umask of
the process. A new file or folder gets its mode as it is created, so there is no moment when
others can read it; one left by an older version is tightened when the connector starts.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path, *, tighten: bool = False) -> Path:
    """`path` and any missing parent created 0700 (`Path.mkdir(parents=True)` would give the
    parents the umask's mode). With `tighten`, an existing folder of ours becomes 0700 too:
    only for folders that are the connector's own (DATA_DIR), never a parent someone chose."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=FOLDER_MODE)
    if tighten:
        _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> None:
    """Create `path` empty as 0600 if it is missing; an existing one of ours becomes 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)


def tighten_file(path: Path) -> None:
    """An existing file of ours becomes 0600; a missing one stays missing."""
    _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    """Remove group and other access from a file or folder this user owns (best effort: a
    folder the operator provides and owns as someone else is left as it is)."""
    try:
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except (FileNotFoundError, PermissionError):
        pass


def replace_text(path: Path, text: str, mode: int) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it), with `mode`: a
    reader, such as the service reloading `lines.yaml` live, never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
