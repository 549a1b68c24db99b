"""The project's JavaScript is checked one way. Every npm project (the two CRM apps, and the page
scripts' tooling in tests/pages) installs a committed lockfile, keeps `node_modules` out of git
and runs in `.ci/run`; the page scripts use the CRM apps' biome in the HubSpot card's style, and
their tooling stays out of the wheel, which ships `connector/api/static/*` whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = REPO / "tests" / "pages"
HUBSPOT = REPO / "deploy" / "hubspot-app"
SALESFORCE = REPO / "deploy" / "salesforce"
STATIC = REPO / "connector" / "api" / "static"
NPM_PROJECTS = sorted(
    path.parent
    for pattern in ("deploy/*/package.json", "tests/*/package.json")
    for path in REPO.glob(pattern)
)
_CI_LOOP = re.compile(r"^for app in ([^;]+); do$", re.MULTILINE)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _json(path: Path) -> dict[str, Any]:
    # biome.jsonc allows whole-line comments (the reasons for rule changes); JSON does not.
    text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_npm_projects_are_the_crm_apps_and_the_page_scripts_tooling() -> None:
    assert sorted([HUBSPOT, SALESFORCE, PAGES]) == NPM_PROJECTS


@pytest.mark.parametrize("project", NPM_PROJECTS, ids=_rel)
def test_every_npm_project_installs_its_committed_lockfile_in_ci(project: Path) -> None:
    assert (project / "package-lock.json").is_file()
    assert "node_modules/" in (project / ".gitignore").read_text().splitlines()
    [loop] = _CI_LOOP.findall((REPO / ".ci" / "run").read_text(encoding="utf-8"))
    assert _rel(project) in loop.split()
    assert "lint" in _json(project / "package.json")["scripts"]


def test_the_page_scripts_lint_with_the_crm_apps_biome_in_the_hubspot_cards_style() -> None:
    package = _json(PAGES / "package.json")
    biome = package["devDependencies"]["@biomejs/biome"]
    for app in (HUBSPOT, SALESFORCE):
        assert _json(app / "package.json")["devDependencies"]["@biomejs/biome"] == biome
    config = _json(PAGES / "biome.jsonc")
    assert config["formatter"] == _json(HUBSPOT / "biome.json")["formatter"]
    assert config["linter"]["rules"]["preset"] == "recommended"
    *_, target = package["scripts"]["lint"].split()
    assert (PAGES / target).resolve() == STATIC


def test_the_static_folder_holds_only_the_pages_assets() -> None:
    # pyproject ships `api/static/*`: a config or lockfile put here would ship too.
    assert {path.suffix for path in STATIC.iterdir()} == {".js", ".css"}
