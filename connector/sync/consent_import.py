"""Importing existing opt-outs from a CSV file (`mms-connector consent import FILE`).

Numbers that opted out before the connector ran (another tool's suppression list, a carrier's
export) must be refused from day one. The file has a header row; `number` (or `phone`) is
required, `opted_out_at` (an ISO date or date-time, UTC when no zone is given) and `reason` are
optional. Every bad row is reported with its line number and left out; the good ones are kept,
in one transaction, each as an admin change with the file named as its actor. A number already
opted out is left alone, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from connector.core.consent import ConsentChange, ConsentSource
from connector.store import consent as stored
from connector.store.queue import utcnow
from connector.sync.consent import InvalidConsent, person_change
from connector.sync.ports import ConsentParts

NUMBER_COLUMNS = ("number", "phone")
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class ImportReport:
    """What an import did (or, with `dry_run`, would do)."""

    dry_run: bool
    imported: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would be imported" if self.dry_run else "imported"
        return (
            f"{self.imported} opt-out(s) {verb}, {self.unchanged} already opted out, "
            f"{len(self.errors)} line(s) refused"
        )


def _moment(text: str) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidConsent(
            f"opted_out_at: {text!r} is not a date (2026-05-01) or date-time (2026-05-01T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > utcnow():
        raise InvalidConsent(f"opted_out_at: {text!r} is in the future")
    return moment


def parse(text: str, source_name: str) -> tuple[list[tuple[int, ConsentChange]], ImportReport]:
    """The changes the file asks for, by line, and a report holding its bad lines."""
    report = ImportReport(dry_run=True)
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    number_column = next((c for c in NUMBER_COLUMNS if c in header), None)
    if number_column is None:
        report.errors.append((1, "the header row must name a `number` column"))
        return [], report
    reader.fieldnames = header
    changes: list[tuple[int, ConsentChange]] = []
    for row in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if not any(values.values()):
            continue  # a blank line
        if None in row:
            report.errors.append((line, "more values than the header has columns"))
            continue
        try:
            at = _moment(values["opted_out_at"]) if values.get("opted_out_at") else None
            change = person_change(
                values.get(number_column, ""),
                opted_out=True,
                reason=values.get("reason") or f"imported from {source_name}",
                source=ConsentSource.ADMIN,
                actor=f"import:{source_name}",
                at=at,
            )
        except InvalidConsent as exc:
            report.errors.append((line, str(exc)))
            continue
        changes.append((line, change))
    return changes, report


def import_file(connector: ConsentParts, path: Path, *, dry_run: bool = False) -> ImportReport:
    """Parse, then keep every good row (unless `dry_run`); the report counts and names lines."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidConsent(f"{path.name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidConsent(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    changes, report = parse(text, path.name)
    report.dry_run = dry_run
    seen: set[str] = set()
    with connector.database.begin() as conn:
        for _line, change in changes:
            current = stored.current(conn, change.number)
            if change.number in seen or (current is not None and current.opted_out):
                report.unchanged += 1
                continue
            seen.add(change.number)
            report.imported += 1
            if not dry_run:
                stored.record(conn, change, crms=connector.crms)
    return report
