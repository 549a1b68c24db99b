"""Salesforce's errors in the connector's terms: which to retry, which pause, which are final.

simple-salesforce raises one class per HTTP status, and one status covers unrelated causes
(403 is the daily limit, the concurrency limit and a missing permission alike; 400 is a
validation rule and a row lock alike), so the decision reads Salesforce's `errorCode` (whole
call) or `statusCode` (one record of a collection). Salesforce's message is kept in the reason.
Nothing above this package sees an SDK exception.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.core.errors import ConnectorError, CredentialsError, Permanent, Throttled, Transient
from connector.crm.salesforce.limits import DAILY_LIMIT_PAUSE_SECONDS

SETUP_HINT = "run `mms-connector mappings setup --crm salesforce`"

# Per-record or whole-call codes that a later attempt can get past.
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "UNKNOWN_EXCEPTION",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "PROCESSING_HALTED",
        "REQUEST_LIMIT_EXCEEDED",
    }
)
# The record points at a contact or parent that is gone (deleted, merged, converted).
STALE_REFERENCE_CODES = frozenset(
    {"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "CANNOT_UPDATE_CONVERTED_LEAD"}
)
# A creation refused because the record exists (a unique field, a blocking duplicate rule).
DUPLICATE_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATES_DETECTED"})
# Answers whose causes apply to the whole org setup rather than to one record.
ACCESS_CODES = frozenset(
    {
        "INSUFFICIENT_ACCESS",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
        "FUNCTIONALITY_NOT_ENABLED",
    }
)


def backoff(base: float = 2.0, spread: float = 4.0) -> float:
    """A few seconds with jitter, so workers that collided do not collide again."""
    return base + random.uniform(0, spread)  # noqa: S311 - jitter, not cryptography


def first_error(content: Any) -> dict[str, Any]:
    """The first `{errorCode, message, fields}` of an error body (a JSON list), or {}."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return dict(content[0])
    if isinstance(content, Mapping):
        return dict(content)
    return {}


def describe_error(error: Mapping[str, Any]) -> str:
    code = error.get("errorCode") or error.get("statusCode") or "ERROR"
    message = str(error.get("message") or "").strip()
    fields = error.get("fields") or []
    where = f" [{', '.join(str(f) for f in fields)}]" if fields else ""
    return f"{code}: {message}{where}" if message else f"{code}{where}"


def is_daily_limit(error: Mapping[str, Any]) -> bool:
    """The 24-hour allocation, as opposed to the concurrent-request limit (same errorCode)."""
    message = str(error.get("message") or "").lower()
    return error.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" and "concurrent" not in message


def from_sdk(exc: SalesforceError, what: str) -> ConnectorError:
    """One whole-call failure of `what` (e.g. "Task upsert") as a connector error."""
    error = first_error(exc.content)
    code = str(error.get("errorCode") or "")
    detail = describe_error(error) if error else f"HTTP {exc.status}"
    reason = f"Salesforce {what}: {detail}"
    if isinstance(exc, SalesforceAuthenticationFailed | SalesforceExpiredSession):
        return CredentialsError(reason)
    if isinstance(exc, SalesforceRefusedRequest):
        if is_daily_limit(error):
            return Throttled(reason, DAILY_LIMIT_PAUSE_SECONDS)
        if code == "REQUEST_LIMIT_EXCEEDED":  # too many concurrent long-running requests
            return Transient(reason, backoff(5.0, 10.0))
        return CredentialsError(f"{reason} (the integration user lacks a permission)")
    if isinstance(exc, SalesforceResourceNotFound):
        return Permanent(reason)
    if isinstance(exc, SalesforceMalformedRequest):
        if code in TRANSIENT_CODES:
            return Transient(reason, backoff())
        return Permanent(reason)
    if isinstance(exc, SalesforceMoreThanOneRecord):
        return Permanent(f"Salesforce {what}: the key matches several records (HTTP 300)")
    if isinstance(exc, SalesforceGeneralError) and exc.status >= 500:
        return Transient(reason, backoff(5.0, 10.0))
    if code in TRANSIENT_CODES:
        return Transient(reason, backoff())
    return Permanent(reason)


def from_network(exc: requests.RequestException, what: str, timeout: object) -> ConnectorError:
    """No answer: worth another attempt. Every write is an upsert by key (and a contact creation
    is preceded by an exact lookup), so repeating a call whose outcome is unknown is safe."""
    if isinstance(exc, requests.Timeout):
        return Transient(
            f"Salesforce {what}: no answer within the timeout {timeout} (outcome unknown; the "
            "retry upserts by key, so it cannot duplicate)",
            backoff(),
        )
    return Transient(f"Salesforce {what}: {type(exc).__name__}", backoff())


def from_record(errors: Sequence[Mapping[str, Any]], what: str) -> ConnectorError:
    """One record's failure inside an sObject Collection (`statusCode`, not `errorCode`)."""
    error = dict(errors[0]) if errors else {}
    code = str(error.get("statusCode") or error.get("errorCode") or "")
    reason = f"Salesforce {what}: {describe_error(error)}" if error else f"Salesforce {what} failed"
    if code in TRANSIENT_CODES:
        return Transient(reason, backoff())
    if code in ACCESS_CODES:
        return CredentialsError(reason)
    return Permanent(reason)


_EXISTING_ID = re.compile(r"record with id: ([A-Za-z0-9]{15,18})")


def existing_record_id(errors: Sequence[Mapping[str, Any]]) -> str | None:
    """The record a duplicate refusal names: "duplicate value found: F duplicates value on
    record with id: 00Q...", or the first match of a duplicate rule's `duplicateResult`."""
    for error in errors:
        found = _EXISTING_ID.search(str(error.get("message") or ""))
        if found:
            return found.group(1)
        result = error.get("duplicateResult")
        if isinstance(result, Mapping):
            for match in result.get("matchResults") or []:
                for record in match.get("matchRecords") or []:
                    record_id = (record.get("record") or {}).get("Id")
                    if record_id:
                        return str(record_id)
    return None


def record_code(errors: Sequence[Mapping[str, Any]]) -> str:
    return str(errors[0].get("statusCode") or errors[0].get("errorCode") or "") if errors else ""


def record_fields(errors: Sequence[Mapping[str, Any]]) -> set[str]:
    """Field names the errors blame (their `fields` lists)."""
    named: set[str] = set()
    for error in errors:
        named.update(str(f) for f in error.get("fields") or [])
    return named
