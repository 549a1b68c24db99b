"""Loaded, checked mappings: what the rest of the connector reads instead of YAML.

A `CrmMapping` is one CRM file with its templates compiled; a `LineBook` the company's lines;
a `MappingSet` the whole `mappings/` directory as one consistent, immutable snapshot (the
registry swaps snapshots whole, so a render never sees half an edit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from connector.core import phone
from connector.core.model import Line, Message
from connector.mapping.context import thread_key
from connector.mapping.errors import Problem
from connector.mapping.limits import known_limit
from connector.mapping.schema import Crm, CrmMappingFile, Granularity, LineEntry
from connector.mapping.source import SourceMap, format_path
from connector.mapping.templates import FieldTemplate


@dataclass(frozen=True)
class CrmMapping:
    """One CRM's mapping file, validated, with its templates compiled."""

    crm: Crm
    file: str
    spec: CrmMappingFile
    fields: tuple[FieldTemplate, ...]
    new_contact_fields: tuple[FieldTemplate, ...]
    source: SourceMap

    @property
    def object_name(self) -> str:
        return self.spec.object

    @property
    def key_field(self) -> str:
        return self.spec.idempotency.key_field

    @property
    def thread_field(self) -> str | None:
        return self.spec.idempotency.thread_field

    @property
    def granularity(self) -> Granularity:
        return self.spec.granularity

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.spec.timezone)

    @property
    def owner_field(self) -> str:
        return self.spec.owner_field

    @property
    def create_only(self) -> frozenset[str]:
        return frozenset(self.spec.create_only)

    def limit_for(self, field_name: str, object_name: str | None = None) -> int | None:
        """The most characters `field_name` holds: the mapping's `field_limits`, else known."""
        target = object_name or self.object_name
        limits = self.spec.field_limits
        qualified = limits.get(f"{target}.{field_name}")
        if qualified is not None:
            return qualified
        if target == self.object_name and field_name in limits:
            return limits[field_name]
        return known_limit(self.crm, target, field_name)

    def day_of(self, moment: datetime) -> date:
        """The conversation day `moment` belongs to, in the mapping's time zone."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(self.zone).date()

    def day_window(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of `day` in UTC: which messages a `conversation_day` record holds."""
        start = datetime.combine(day, time(), tzinfo=self.zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def record_key(self, message: Message) -> str:
        """The idempotency key of the record `message` lands in."""
        if self.granularity is Granularity.CONVERSATION_DAY:
            return f"{thread_key(message)}:{self.day_of(message.sent_at).isoformat()}"
        return message.key

    def owner_for(self, line_owners: Mapping[Crm, str]) -> str | None:
        rule = self.spec.owner
        if rule.source == "none":
            return None
        if rule.source == "fixed":
            return rule.default
        return line_owners.get(self.crm) or rule.default


@dataclass(frozen=True)
class LineBook:
    """The company's lines from `lines.yaml`: the only lines the send API and composer offer."""

    file: str
    entries: tuple[LineEntry, ...]
    source: SourceMap | None = None

    def problem(
        self, path: tuple[str | int, ...], message: str, *, warning: bool = False
    ) -> Problem:
        if self.source is None:
            return Problem(
                self.file, None, format_path(path), message, "warning" if warning else "error"
            )
        return self.source.problem(path, message, warning=warning)

    def get(self, number: str) -> LineEntry | None:
        wanted = phone.try_normalize(number) or number
        return next((entry for entry in self.entries if entry.number == wanted), None)

    def lines(self) -> list[Line]:
        return [entry.to_line() for entry in self.entries]

    def owner(self, number: str, crm: Crm) -> str | None:
        entry = self.get(number)
        return entry.owner(crm) if entry else None

    def __iter__(self) -> Iterator[LineEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class MappingSet:
    """Everything under `mappings/`, loaded together; only CRMs with a file are mapped."""

    directory: Path
    lines: LineBook
    crms: Mapping[Crm, CrmMapping]
    warnings: tuple[Problem, ...] = field(default=())

    def get(self, crm: Crm | str) -> CrmMapping | None:
        return self.crms.get(Crm(crm))
