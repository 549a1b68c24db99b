"""Downloading a provider's medium without letting a webhook point the connector at our network.

A media URL comes from a webhook body, so it is untrusted: before connecting, and again at every
redirect, the URL must be https and its host must resolve only to public addresses. The same
check runs once more inside the connection itself, on the address actually dialled, so a DNS
answer that changes between the check and the connection (rebinding) gains nothing.
`CONNECTOR_ALLOW_PRIVATE_MEDIA_URLS` turns all of this off for tests and local demos.

The body is streamed into a `Spool` with a byte cap counted on the decoded bytes
(`connector.media.decoding`), and the whole download (connect, TLS, headers, redirects, body)
ends by one deadline (`connector.media.deadline`), so a huge, compressed or trickling answer
costs bounded memory and time.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from dataclasses import dataclass

import httpcore
import httpx

from connector.core.errors import Permanent, Transient
from connector.core.sniff import SNIFF_BYTES
from connector.media.deadline import DeadlineBackend, deadline, deadline_passed, time_left
from connector.media.decoding import decoded
from connector.media.staging import Spool, SpoolOverflow

Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=10.0)
DEFAULT_DEADLINE_SECONDS = 120.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_YET = frozenset({403, 404})
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The system resolver takes no timeout (a resolver that does not answer holds the caller for its
# own retries, tens of seconds): lookups run here, and the download waits only until its deadline.
# A lookup still stuck then ends on its own; the pool's size bounds how many may be stuck at once.
_LOOKUPS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="media-dns")


class UnsafeMediaUrl(Permanent):
    """The URL is not https, or its host is (or resolves to) a non-public address."""


class MediaNotFound(Permanent):
    """The provider answered 403/404/410: the medium is not there (yet, or any more)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status

    @property
    def may_appear(self) -> bool:
        """403/404 right after a webhook can mean 'not uploaded yet'; 410 never does."""
        return self.status in _NOT_YET


@dataclass(frozen=True)
class Downloaded:
    """What the provider said of the body (its claims only: the bytes decide the type)."""

    content_type: str | None
    content_length: int | None
    host: str


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, as the operating system's resolver answers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    """Whether connecting to `address` leaves the private networks (RFC 1918, loopback, …)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def public_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses of `host`, all of them public, or `UnsafeMediaUrl`."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = _look_up(resolver, host, port)
        except (OSError, UnicodeError) as exc:
            raise Transient(f"cannot resolve the media host {host}: {type(exc).__name__}") from None
        if not addresses:
            raise Transient(f"the media host {host} has no address")
    refused = [a for a in addresses if not is_public_address(a)]
    if refused:
        raise UnsafeMediaUrl(f"refused: the media host {host} is not a public address")
    return addresses


def _look_up(resolver: Resolver, host: str, port: int) -> list[str]:
    """The resolver's answer, by the current download's deadline."""
    left = time_left()
    if left is None:
        return list(resolver(host, port))
    lookup = _LOOKUPS.submit(resolver, host, port)
    try:
        return list(lookup.result(timeout=max(left, 0.0)))
    except LookupTimeout:
        lookup.cancel()  # still queued behind stuck lookups: never started
        raise Transient(f"the media host {host} did not resolve in time") from None


def check_url(url: httpx.URL, *, allow_private: bool, resolver: Resolver) -> None:
    """Refuse a URL the connector must not fetch; resolves the host unless private is allowed."""
    if url.scheme not in ("http", "https") or not url.host:
        raise UnsafeMediaUrl("refused: a media URL must be an absolute http(s) URL")
    if allow_private:
        return
    if url.scheme != "https":
        raise UnsafeMediaUrl(f"refused: the media URL for {url.host} is not https")
    public_addresses(url.host, url.port or 443, resolver)


class _PublicOnlyBackend(DeadlineBackend):
    """Dials only an address that was checked public in the same call: no DNS rebinding."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = public_addresses(host, port, self._resolver)
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address, port, timeout, local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults: certifi's roots, hostname checks) for every fetcher of
    the process: loading the roots costs ~25 ms, and a context is safe to share across threads
    and connections."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with our dialler (deadline-bound, and public-only unless private
    addresses are allowed); no proxy (a proxy would dial for us)."""

    def __init__(self, resolver: Resolver | None) -> None:
        super().__init__(verify=_tls_context(), trust_env=False)
        backend = DeadlineBackend() if resolver is None else _PublicOnlyBackend(resolver)
        # httpx takes no network backend, so the pool is rebuilt with ours; TLS still checks the
        # certificate against the URL's host name (httpcore passes it as server_hostname).
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


class MediaFetcher:
    """Streams one URL into a spool: guarded, capped, timed out, errors classified."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        max_redirects: int = MAX_REDIRECTS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.deadline_seconds = deadline_seconds
        self.max_redirects = max_redirects
        if transport is None:
            transport = GuardedTransport(None if allow_private else resolver)
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "mms-crm-connector", "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._client.close()

    def download(self, url: str, spool: Spool, *, until: float | None = None) -> Downloaded:
        """Write the medium at `url` into `spool`, all of it by `until` (`time.monotonic()`
        seconds; `deadline_seconds` from now by default).

        Raises `UnsafeMediaUrl`, `MediaNotFound`, `Transient` (worth another try: a timeout,
        the deadline), `Permanent`, or the spool's `SpoolOverflow` once the decoded body passes
        the cap (reading stops there).
        """
        started = time.monotonic()
        until = started + self.deadline_seconds if until is None else until
        seconds = max(0.0, until - started)
        with deadline(until):
            try:
                response = self._open(url)
            except Transient:
                if deadline_passed():
                    raise _too_long(httpx.URL(url).host, seconds) from None
                raise
            try:
                return self._read(response, spool, until, seconds)
            finally:
                response.close()

    def _read(
        self, response: httpx.Response, spool: Spool, until: float, seconds: float
    ) -> Downloaded:
        host = response.url.host
        length = _content_length(response)
        declared_too_big = length is not None and length > spool.cap
        try:
            body = decoded(response.headers.get("content-encoding"), response.iter_raw())
            for chunk in body:
                spool.write(chunk)
                if declared_too_big and len(spool.head) >= SNIFF_BYTES:
                    # Announced over the cap: the head is enough for the verdict, stop here.
                    raise SpoolOverflow(length or 0, spool.cap)
                if time.monotonic() > until:
                    raise _too_long(host, seconds)
        except httpx.TimeoutException:
            if deadline_passed():
                raise _too_long(host, seconds) from None
            raise Transient(f"the download from {host} timed out") from None
        except httpx.TransportError as exc:
            raise Transient(f"the download from {host} failed: {type(exc).__name__}") from None
        return Downloaded(
            content_type=response.headers.get("content-type"),
            content_length=length,
            host=host,
        )

    def _open(self, url: str) -> httpx.Response:
        """The first non-redirect answer, each hop checked before it is requested."""
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise UnsafeMediaUrl("refused: the media URL is not a valid URL") from None
        for _hop in range(self.max_redirects + 1):
            check_url(current, allow_private=self.allow_private, resolver=self.resolver)
            response = self._send(current)
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                response.close()
                try:
                    current = current.join(location)
                except httpx.InvalidURL:
                    raise UnsafeMediaUrl("refused: the media redirect is not a valid URL") from None
                continue
            if response.is_success:
                return response
            response.close()
            raise _status_error(response)
        raise Permanent(f"more than {self.max_redirects} redirects from {httpx.URL(url).host}")

    def _send(self, url: httpx.URL) -> httpx.Response:
        try:
            return self._client.send(self._client.build_request("GET", url), stream=True)
        except httpx.TimeoutException:
            raise Transient(f"the media host {url.host} timed out") from None
        except httpx.TransportError as exc:
            raise Transient(f"the media host {url.host} failed: {type(exc).__name__}") from None


def _too_long(host: str, seconds: float) -> Transient:
    return Transient(f"the download from {host} took over {seconds:.0f} s")


def _status_error(response: httpx.Response) -> Exception:
    status = response.status_code
    host = response.url.host
    if status in _NOT_YET or status == 410:
        return MediaNotFound(f"the media host {host} answered {status}", status)
    if status in _RETRYABLE or status >= 500:
        return Transient(f"the media host {host} answered {status}", _retry_after(response.headers))
    return Permanent(f"the media host {host} answered {status}")


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
