"""Work on a clock, described by whoever owns it (media retention, job pruning, credential
checks) and run by the worker: a neutral module, so an owner below the worker need not import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Periodic:
    """Work the worker does on a clock, e.g. deleting media past their retention: once when the
    worker starts, then every `interval` seconds."""

    name: str
    interval: float
    run: Callable[[], None]
    last_run: float | None = field(default=None)
