"""Write one variable into an env file the operator keeps, touching no other line.

The operator's file is theirs: comments, blank lines, order and `export` prefixes stay exactly as
they were, byte for byte; only the line that sets the variable is rewritten (the last one, the
one that wins, when it is set twice), or one line is appended. Nothing is written when the value
is already there, so a second run leaves the file and its timestamp alone. The new file replaces
the old in one rename from the same folder, keeping the old file's mode (a new file is 0600: it
holds secrets), so a crash never leaves half a file. Values are read back with python-dotenv, the
parser pydantic-settings uses.
"""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from connector.store.files import replace_text

_PLAIN = re.compile(r"^[A-Za-z0-9_.\-]*$")


def set_variable(path: Path, name: str, value: str) -> bool:
    """Set `name=value` in the env file at `path` (created if missing); True if it changed."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not an env file")
    exists = path.exists()
    if exists and dotenv_values(path, encoding="utf-8").get(name) == value:
        return False
    text = path.read_text(encoding="utf-8") if exists else ""
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf"^(?P<lead>[ \t]*(?:export[ \t]+)?){re.escape(name)}[ \t]*=")
    found = [index for index, line in enumerate(lines) if pattern.match(line)]
    if found:
        index = found[-1]
        line = lines[index]
        ending = line[len(line.rstrip("\r\n")) :]
        lead = pattern.match(line).group("lead")  # type: ignore[union-attr]
        lines[index] = f"{lead}{name}={_quoted(value)}{ending}"
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{name}={_quoted(value)}\n")
    replace_text(path, "".join(lines), path.stat().st_mode & 0o777 if exists else 0o600)
    return True


def _quoted(value: str) -> str:
    if _PLAIN.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
