"""The rate budgets as `bootstrap` wires them: in the database, or in Redis when configured, and
shared by every connector (process) of a deployment; the sync's linger asks HubSpot's budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import bootstrap
from connector.crm.hubspot import HubSpotAdapter
from connector.store.budgets import BudgetExhausted, SqlBuckets
from connector.store.conversations import SYNC_CRM
from connector.store.queue import Job
from connector.store.redis_buckets import RedisBuckets
from tests.conftest import make_settings

HUBSPOT = {"hubspot_access_token": "pat-test", "hubspot_base_url": "https://hubspot.example.test"}


def test_budgets_live_in_the_database_by_default(tmp_path: Path) -> None:
    connector = bootstrap.build(make_settings(tmp_path))

    assert isinstance(connector.budgets, SqlBuckets)
    connector.close()


def test_budgets_live_in_redis_when_a_redis_url_is_set(tmp_path: Path) -> None:
    connector = bootstrap.build(make_settings(tmp_path, redis_url="redis://127.0.0.1:6379/0"))

    assert isinstance(connector.budgets, RedisBuckets)
    connector.close()


def test_two_connectors_on_one_database_spend_one_hubspot_budget(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hubspot_rate_limit=5, **HUBSPOT)
    first, second = bootstrap.build(settings), bootstrap.build(settings)
    spender = first.adapter("hubspot")
    assert isinstance(spender, HubSpotAdapter)
    for _ in range(4):
        with spender.api.limiter.slot():
            pass

    other = second.adapter("hubspot")
    assert isinstance(other, HubSpotAdapter)
    assert other.api.limiter.remaining() == 1
    first.close()
    second.close()


def test_sends_of_one_provider_share_one_rate_across_connectors(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        aircall_api_id="id",
        aircall_api_token="token",
        aircall_requests_per_minute=1,
    )
    first, second = bootstrap.build(settings), bootstrap.build(settings)
    first.sender("aircall").limiter.acquire()  # type: ignore[attr-defined]

    with pytest.raises(BudgetExhausted) as refused:
        second.sender("aircall").limiter.acquire(max_wait=1)  # type: ignore[attr-defined]

    assert refused.value.wait_seconds > 55  # one a minute, whichever process sends
    first.close()
    second.close()


def test_a_small_sync_batch_lingers_a_moment_and_until_the_next_slot_when_the_budget_is_spent(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, hubspot_rate_limit=20, sync_linger_seconds=1.5, **HUBSPOT)
    connector = bootstrap.build(settings)
    linger = connector.batched[SYNC_CRM].linger
    assert linger is not None
    batch = [Job.__new__(Job)]
    object.__setattr__(batch[0], "target", "hubspot")

    assert linger(batch) == 1.5
    adapter = connector.adapter("hubspot")
    assert isinstance(adapter, HubSpotAdapter)
    for _ in range(20):  # the whole window spent: the next slot is about 10 s away
        with adapter.api.limiter.slot():
            pass

    assert 8.0 < linger(batch) <= 10.0
    connector.close()
