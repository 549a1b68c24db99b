"""The composition root builds its registries once: a running connector's job kinds, periodic
tasks, checks and factories cannot be changed behind its back."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import bootstrap
from connector.store.conversations import CAPTURE_MEDIA
from tests.conftest import make_settings


def test_the_registries_are_read_only_once_built(tmp_path: Path) -> None:
    connector = bootstrap.build(make_settings(tmp_path, hubspot_access_token="pat-na1-x"))
    try:
        assert CAPTURE_MEDIA in connector.handlers
        assert list(connector.adapter_factories) == ["hubspot"]
        with pytest.raises(TypeError):
            connector.handlers["extra"] = lambda job: None  # type: ignore[index]
        with pytest.raises(TypeError):
            connector.adapter_factories["salesforce"] = lambda: None  # type: ignore[index]
        assert isinstance(connector.periodic, tuple)
    finally:
        connector.close()
