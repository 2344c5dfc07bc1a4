"""The REST client: ``POST /info`` and ``POST /exchange`` over one keep-alive session, in worker threads.

``requests`` runs in a small thread pool so the event loop never blocks. Info requests are idempotent and are
retried on connection errors, timeouts, 5xx and 429 with exponential backoff. Exchange actions are never retried
here: a failure either proves the request was not sent (:class:`NotSent`: the connection could not be opened),
proves it was not processed (429: :class:`~.errors.RateLimited`), or leaves its outcome unknown
(:class:`OutcomeUnknown`), and only the caller, who knows the cloids, can find out what happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from mmtool.plugins.exchanges.hyperliquid import codec
from mmtool.plugins.exchanges.hyperliquid.errors import HyperliquidError, MalformedResponse, RateLimited
from mmtool.plugins.exchanges.hyperliquid.ratelimit import RateLimits, action_weight, info_weight

log = logging.getLogger("mmtool.hyperliquid.rest")

_HEADERS = {"Content-Type": "application/json"}


class TransportError(HyperliquidError):
    """A request failed below the exchange's logic (connection, timeout, HTTP status)."""


class NotSent(TransportError):
    """The request never left: the connection could not be opened. Safe to send again."""


class OutcomeUnknown(TransportError):
    """The request may or may not have been processed (timeout, dropped connection, 5xx)."""


def _not_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text or "Failed to resolve" in text
    return False


def _cause(exc: requests.RequestException) -> str:
    """A short reason for a failed request, for messages a user reads: refused, host not found, timed out."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = repr(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Failed to resolve" in text or "Name or service not known" in text:
        return "host not found"
    return type(exc).__name__


class RestClient:
    """Posts JSON to the exchange's REST API and accounts every request's IP weight.

    :param on_rate_limited: called (on the event loop) with the reason each time an info request gets a 429
        (an exchange action's 429 raises :class:`~.errors.RateLimited` for the caller to report).
    """

    def __init__(
        self,
        base_url: str,
        limits: RateLimits,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        retries: int = 3,
        on_rate_limited: Callable[[str], None] | None = None,
        workers: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self.timeout = (connect_timeout_s, timeout_s)
        self.retries = retries
        self.on_rate_limited = on_rate_limited
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=workers, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl-rest")
        #: Requests sent, by endpoint, and failures by kind (for metrics and tests).
        self.sent = {"info": 0, "exchange": 0}
        self.failures = {"timeout": 0, "http": 0, "connection": 0, "rate_limited": 0}

    def close(self) -> None:
        """Close the session and let the worker threads end."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _post(self, path: str, data: bytes) -> requests.Response:
        return self._session.post(self.base_url + path, data=data, headers=_HEADERS, timeout=self.timeout)

    async def _send(self, path: str, data: bytes) -> requests.Response:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._post, path, data)

    def _rate_limited(self, reason: str, notify: bool) -> None:
        self.failures["rate_limited"] += 1
        if notify and self.on_rate_limited is not None:
            self.on_rate_limited(reason)

    async def info(self, body: dict[str, Any]) -> Any:
        """Post an info request and return the decoded answer, retrying what is safe to retry."""
        kind = str(body.get("type", ""))
        weight = info_weight(kind)
        data = codec.dumps(body)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
            wait = self.limits.ip.delay_for(weight)
            if wait > 0:
                log.warning("IP weight budget exhausted; waiting", extra={"fields": {"seconds": round(wait, 2)}})
                await asyncio.sleep(wait)
            self.limits.ip.spend(weight)
            self.sent["info"] += 1
            try:
                response = await self._send("/info", data)
            except requests.RequestException as exc:
                self.failures["timeout" if isinstance(exc, requests.Timeout) else "connection"] += 1
                last = TransportError(f"/info {kind} at {self.base_url}: {_cause(exc)}")
                continue
            if response.status_code == 429:
                self._rate_limited(f"HTTP 429 on /info {kind}", notify=True)
                last = RateLimited(f"HTTP 429 on /info {kind}")
                continue
            if response.status_code >= 500:
                self.failures["http"] += 1
                last = TransportError(f"/info {kind}: HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                raise TransportError(f"/info {kind}: HTTP {response.status_code}: {response.text[:200]}")
            try:
                return codec.loads(response.content)
            except ValueError as exc:
                raise MalformedResponse(f"/info {kind}: not JSON") from exc
        assert last is not None
        raise last

    async def exchange(self, data: bytes, batch_len: int) -> Any:
        """Post a signed ``/exchange`` body once; see the module docstring for what a failure means."""
        self.limits.ip.spend(action_weight(batch_len))
        self.sent["exchange"] += 1
        try:
            response = await self._send("/exchange", data)
        except requests.RequestException as exc:
            if _not_sent(exc):
                self.failures["connection"] += 1
                raise NotSent(f"/exchange at {self.base_url}: not sent ({_cause(exc)})") from None
            self.failures["timeout" if isinstance(exc, requests.Timeout) else "connection"] += 1
            raise OutcomeUnknown(f"/exchange at {self.base_url}: {_cause(exc)}") from None
        if response.status_code == 429:
            # The caller reports it: it also learns rate limits from error texts in the answers.
            self._rate_limited("HTTP 429 on /exchange", notify=False)
            raise RateLimited("HTTP 429 on /exchange")
        if response.status_code >= 500:
            self.failures["http"] += 1
            raise OutcomeUnknown(f"/exchange: HTTP {response.status_code}")
        try:
            answer = codec.loads(response.content)
        except ValueError:
            if response.status_code != 200:
                raise TransportError(f"/exchange: HTTP {response.status_code}: {response.text[:200]}") from None
            raise MalformedResponse("/exchange: not JSON") from None
        return answer
