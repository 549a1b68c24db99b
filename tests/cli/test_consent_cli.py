"""`mms-connector consent show|set|import` as an admin runs it against the configured database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.core.consent import ConsentSource
from connector.store import consent
from connector.store.db import Database
from tests.conftest import make_database

runner = CliRunner()

GOOD = "+14155550123"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    return make_database(f"sqlite:///{tmp_path / 'var' / 'connector.db'}")


def history(database: Database, number: str) -> list[consent.ConsentChange]:
    with database.read() as conn:
        return consent.history(conn, number)


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "optouts.csv"
    path.write_text(text, encoding="utf-8")
    return path


FILE_WITH_BAD_ROWS = """\
number,opted_out_at,reason
+14155550123,2025-11-02,replied STOP to our old tool
+1 (415) 555-0124,2025-11-03T08:15:00Z,
not-a-number,2025-11-03,typo

+14155550125,yesterday,bad date
+14155550126,2025-11-04,more,columns
+14155550127,,no date given
"""


def test_import_keeps_the_good_rows_and_names_each_bad_line(
    tmp_path: Path, database: Database
) -> None:
    result = runner.invoke(app, ["consent", "import", str(csv_file(tmp_path, FILE_WITH_BAD_ROWS))])

    assert result.exit_code == 1  # some lines were refused
    assert "3 opt-out(s) imported, 0 already opted out, 3 line(s) refused" in result.stdout
    errors = result.stderr.splitlines()
    assert errors[0].startswith("optouts.csv:4: number: 'not-a-number' is not a phone number")
    assert errors[1].startswith("optouts.csv:6: opted_out_at: 'yesterday' is not a date")
    assert errors[2] == "optouts.csv:7: more values than the header has columns"
    [first] = history(database, GOOD)
    assert first.opted_out and first.source is ConsentSource.ADMIN
    assert first.reason == "replied STOP to our old tool"
    assert first.actor == "import:optouts.csv"
    assert first.at.isoformat() == "2025-11-02T00:00:00+00:00"
    [second] = history(database, "+14155550124")
    assert second.reason == "imported from optouts.csv"
    assert history(database, "+14155550127")[0].opted_out
    assert history(database, "+14155550125") == []


def test_a_dry_run_counts_and_keeps_nothing(tmp_path: Path, database: Database) -> None:
    path = csv_file(tmp_path, "number\n+14155550123\n+14155550124\n")

    result = runner.invoke(app, ["consent", "import", "--dry-run", str(path)])

    assert result.exit_code == 0, result.output
    assert "2 opt-out(s) would be imported, 0 already opted out, 0 line(s) refused" in (
        result.stdout
    )
    assert history(database, GOOD) == []


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path, database: Database) -> None:
    path = csv_file(tmp_path, "Phone,Reason\n+14155550123,old list\n+14155550123,dup\n")

    first = runner.invoke(app, ["consent", "import", str(path)])
    second = runner.invoke(app, ["consent", "import", str(path)])

    assert "1 opt-out(s) imported, 1 already opted out" in first.stdout
    assert "0 opt-out(s) imported, 2 already opted out" in second.stdout
    assert len(history(database, GOOD)) == 1


def test_a_file_without_a_number_column_is_refused_at_line_1(
    tmp_path: Path, database: Database
) -> None:
    result = runner.invoke(app, ["consent", "import", str(csv_file(tmp_path, "mobile\n+1415\n"))])

    assert result.exit_code == 1
    assert "optouts.csv:1: the header row must name a `number` column" in result.stderr


def test_set_then_show_tells_the_history(database: Database) -> None:
    out = runner.invoke(app, ["consent", "set", GOOD, "--opted-out", "--reason", "asked by phone"])
    back = runner.invoke(
        app, ["consent", "set", GOOD, "--opted-in", "--reason", "signed form", "--actor", "ann"]
    )
    shown = runner.invoke(app, ["consent", "show", GOOD])

    assert out.exit_code == 0 and f"{GOOD} opted out" in out.stdout
    assert back.exit_code == 0 and "opted back in" in back.stdout
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    first = lines.index(f"{GOOD}: may be messaged")
    assert "opted in   admin by ann: signed form" in lines[first + 1]
    assert "opted out  admin by cli: asked by phone" in lines[first + 2]


def test_show_says_why_a_send_is_refused(database: Database) -> None:
    runner.invoke(app, ["consent", "set", GOOD, "--opted-out", "--reason", "asked by phone"])

    shown = runner.invoke(app, ["consent", "show", GOOD])

    assert f"{GOOD}: OPTED OUT" in shown.stdout.splitlines()
    assert "(marked by an admin: asked by phone)." in shown.stdout


def test_set_without_a_reason_or_with_a_bad_number_fails_clearly(database: Database) -> None:
    no_reason = runner.invoke(app, ["consent", "set", GOOD, "--opted-out", "--reason", " "])
    bad_number = runner.invoke(app, ["consent", "set", "12", "--opted-out", "--reason", "x"])

    assert no_reason.exit_code == 2 and "reason:" in no_reason.stderr
    assert bad_number.exit_code == 2 and "is not a phone number" in bad_number.stderr
    assert history(database, GOOD) == []
