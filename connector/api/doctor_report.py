"""The doctor's checklist: each check passes, fails with its fix, or does not apply."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

NAMES = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "aircall": "Aircall",
    "cloudtalk": "CloudTalk",
}

State = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the checklist; `fix` says what to do when it fails."""

    name: str
    state: State
    detail: str
    fix: str = ""

    @property
    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "skip": "-"}[self.state]

    def lines(self) -> list[str]:
        shown = [f"{self.mark} {self.name}: {self.detail}"]
        if self.state == "fail" and self.fix:
            shown.append(f"    fix: {self.fix}")
        return shown


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.state != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks]}

    def lines(self) -> list[str]:
        shown = [line for check in self.checks for line in check.lines()]
        failures = sum(check.state == "fail" for check in self.checks)
        shown.append("all checks pass" if self.ok else f"{failures} check(s) fail")
        return shown
