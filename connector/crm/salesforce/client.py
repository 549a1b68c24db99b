"""One authenticated simple-salesforce client with timeouts, bounded token refresh and pacing.

simple-salesforce sets no timeout, refreshes tokens only for the logins it made itself (and then
can recurse without end on a persistent 401, issue #804), and raises its own exceptions. Every
Salesforce call of the adapter goes through `SalesforceClient.call`, which fixes all three: a
session that fills in a default timeout and reads `Sforce-Limit-Info`, at most
`max_token_refreshes` new tokens per call, and connector errors only. A dropped connection is
tried again within the call a moment later (tenacity), before the job goes back to the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import structlog
import tenacity
import zeep.exceptions
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from connector import metrics
from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    Permanent,
    Throttled,
    Transient,
)
from connector.crm.salesforce.auth import AccessToken, SalesforceAuth
from connector.crm.salesforce.errors import backoff, from_network, from_sdk
from connector.crm.salesforce.limits import DAILY_LIMIT_PAUSE_SECONDS, ApiBudget

log = structlog.get_logger(__name__)

T = TypeVar("T")
# A connection that failed or dropped (not one that timed out: a slow Salesforce is not asked
# again at once) is tried this many times in all within one call. Every write is an upsert by
# key, so repeating one whose answer was lost cannot duplicate.
IN_CALL_TRIES = 3
IN_CALL_WAIT = tenacity.wait_random_exponential(multiplier=0.2, max=1.0)
Timeout = float | tuple[float, float]
# Metadata API (SOAP) calls create fields and can take longer than a REST call.
METADATA_TIMEOUT_SECONDS = 120.0


class TimeoutSession(requests.Session):
    """A `requests.Session` that never waits forever and reports every answer to the budget."""

    def __init__(self, timeout: Timeout, budget: ApiBudget | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.budget = budget

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        # Positional arguments after url: params, data, headers, cookies, files, auth, timeout.
        if len(args) < 7 and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        try:
            response = super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException:
            metrics.CRM_CALLS.labels(crm="salesforce", status="error").inc()
            raise
        metrics.CRM_CALLS.labels(crm="salesforce", status=str(response.status_code)).inc()
        if self.budget is not None:
            self.budget.count()
            self.budget.observe(response.headers.get("Sforce-Limit-Info"))
        return response


class SalesforceClient:
    """Runs callables against a live `Salesforce` object, translating every failure."""

    def __init__(
        self,
        auth: SalesforceAuth,
        *,
        api_version: str,
        timeout: Timeout = (5, 30),
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
        max_token_refreshes: int = 2,
    ) -> None:
        self.auth = auth
        self.api_version = api_version.lstrip("v")
        self.timeout = timeout
        self.budget = budget or ApiBudget()
        self.session = session or TimeoutSession(timeout, self.budget)
        self.max_token_refreshes = max_token_refreshes
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._token: AccessToken | None = None

    @property
    def user_id(self) -> str | None:
        return self._token.user_id if self._token else None

    def call(self, what: str, operation: Callable[[Salesforce], T]) -> T:
        """`operation(sf)`, again after a dropped connection; connector errors only."""
        repeat = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(IN_CALL_TRIES),
            wait=IN_CALL_WAIT,
            retry=tenacity.retry_if_exception(_dropped_connection),
            reraise=True,
            before_sleep=lambda state: log.info(
                "salesforce.call_repeated", what=what, attempt=state.attempt_number
            ),
        )
        try:
            answer: T = repeat(self._call_refreshing, what, operation)
        except requests.RequestException as exc:
            raise from_network(exc, what, self.timeout) from None
        return answer

    def _call_refreshing(self, what: str, operation: Callable[[Salesforce], T]) -> T:
        """`operation(sf)` with a fresh token on INVALID_SESSION_ID, at most a few times."""
        refreshes = 0
        while True:
            sf = self._connect()
            self.budget.before_call()
            try:
                return operation(sf)
            except SalesforceExpiredSession:
                if not self.auth.refreshable:
                    raise CredentialsError(
                        f"Salesforce rejected the session id during {what} (INVALID_SESSION_ID); "
                        "a session id cannot be renewed: give a new one or configure JWT "
                        "bearer or client credentials"
                    ) from None
                if refreshes >= self.max_token_refreshes:
                    raise CredentialsError(
                        f"Salesforce still rejects the session during {what} after "
                        f"{refreshes} fresh tokens (INVALID_SESSION_ID)"
                    ) from None
                refreshes += 1
                log.info("salesforce.session_expired", what=what, refresh=refreshes)
                self._invalidate(sf)
            except zeep.exceptions.Fault as fault:
                if _fault_code(fault) != "INVALID_SESSION_ID" or not self.auth.refreshable:
                    raise from_fault(fault, what) from None
                if refreshes >= self.max_token_refreshes:
                    raise from_fault(fault, what) from None
                refreshes += 1
                self._invalidate(sf)
            except SalesforceError as exc:
                raise from_sdk(exc, what) from None

    def query(self, what: str, soql: str) -> dict[str, Any]:
        """One SOQL page (the connector's queries ask for at most 200 rows)."""
        answer = self.call(what, lambda sf: sf.query(soql))
        return dict(answer) if answer else {}

    def search(self, what: str, sosl: str) -> dict[str, Any]:
        answer = self.call(what, lambda sf: sf.search(sosl))
        return dict(answer) if answer else {}

    def metadata(self, sf: Salesforce) -> Any:
        """`sf.mdapi`, talking through this client's session, with a timeout (zeep has none)."""
        mdapi = sf.mdapi
        transport = mdapi._client.transport
        if transport.session is not self.session:
            transport.session.close()  # zeep's own, now unused
            transport.session = self.session
            transport._close_session = False  # ours outlives this mdapi object
            transport.operation_timeout = METADATA_TIMEOUT_SECONDS
        return mdapi

    def close(self) -> None:
        self.session.close()

    def _connect(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                token = self.auth.fetch(self.session)
                self._token = token
                self._sf = Salesforce(
                    instance_url=token.instance_url,
                    session_id=token.access_token,
                    session=self.session,
                    version=self.api_version,
                )
            return self._sf

    def _invalidate(self, stale: Salesforce) -> None:
        """Drop the client whose token failed (unless another thread replaced it already)."""
        with self._lock:
            if self._sf is stale:
                self._sf = None


def _dropped_connection(exc: BaseException) -> bool:
    # requests' ConnectTimeout is both a ConnectionError and a Timeout: a timeout is not repeated.
    return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)


def _fault_code(fault: zeep.exceptions.Fault) -> str:
    return str(fault.code or "").rpartition(":")[2]


def from_fault(fault: zeep.exceptions.Fault, what: str) -> ConnectorError:
    """A Metadata API (SOAP) fault as a connector error."""
    code = _fault_code(fault)
    reason = f"Salesforce {what}: {fault.message}"
    if code == "REQUEST_LIMIT_EXCEEDED":
        return Throttled(reason, DAILY_LIMIT_PAUSE_SECONDS)
    if code in ("INVALID_SESSION_ID", "INVALID_LOGIN"):
        return CredentialsError(reason)
    if code in ("SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"):
        return Transient(reason, backoff())
    return Permanent(reason)
