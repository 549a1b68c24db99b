"""The lockfiles pin, with hashes, every dependency pyproject.toml names, at versions its bounds
allow: the image (deploy/requirements.lock) and CI (.ci/requirements-test.lock) install exactly
them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
IMAGE_EXTRAS = ("postgres", "s3", "redis")
LOCKS = {
    "deploy/requirements.lock": IMAGE_EXTRAS,
    ".ci/requirements-test.lock": (*IMAGE_EXTRAS, "test"),
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    text = (REPO / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): Version(version) for name, version in _PIN.findall(text)}


def required(extras: tuple[str, ...]) -> list[Requirement]:
    listed = list(PROJECT["dependencies"])
    for extra in extras:
        listed += PROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in listed]


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_every_dependency_is_pinned_within_its_bounds(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    missing = []
    for requirement in required(extras):
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            missing.append(requirement.name)
            continue
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}: {requirement.name}=={version} is outside {requirement.specifier}"
        )
    assert not missing, f"{lock} lacks {missing}: run .ci/lock"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_its_hashes(lock: str) -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (REPO / lock).read_text(encoding="utf-8"))
    for block in blocks:
        if _PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
