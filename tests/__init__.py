"""The test suite.

The suite starts many Python processes (xdist workers, `mms-connector` services and workers),
each importing the whole connector. Under PYTHONDONTWRITEBYTECODE each one compiled every module
from source again (~2 s of CPU per process on a 2-core machine), so the suite keeps its bytecode
in `.pycache/` at the repository's root (ignored by git) instead: the source tree stays as free
of `__pycache__` folders as the setting asks, and a module is compiled once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    sys.pycache_prefix = os.environ.setdefault(
        "PYTHONPYCACHEPREFIX", str(Path(__file__).resolve().parent.parent / ".pycache")
    )
    sys.dont_write_bytecode = False
