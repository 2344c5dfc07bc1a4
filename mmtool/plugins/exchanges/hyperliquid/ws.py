"""One WebSocket connection to the exchange: subscriptions, the ping heartbeat, and requests posted over it.

The connection decodes every message once and hands subscription data to ``on_message``; ``post`` answers
(``{"channel": "post", "data": {"id", "response"}}``) resolve the future of the request with that id. When the
socket closes, every post still waiting fails with :class:`ConnectionLost` (its outcome is unknown) and
:meth:`WsConnection.wait_closed` returns. Reconnecting is the adapter's job: one object, one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from mmtool.plugins.exchanges.hyperliquid import codec
from mmtool.plugins.exchanges.hyperliquid.errors import HyperliquidError, MalformedResponse, error_from_message

log = logging.getLogger("mmtool.hyperliquid.ws")

PING = codec.dumps({"method": "ping"})


class ConnectionLost(HyperliquidError):
    """The socket closed while a request posted over it waited for its answer: the outcome is unknown."""


def ws_url(base_url: str) -> str:
    """The WebSocket address of a REST base URL: ``https://host`` -> ``wss://host/ws``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/ws"
    raise ValueError(f"base URL must start with http:// or https:// (got {base_url!r})")


def _close_text(exc: websockets.ConnectionClosed) -> str:
    """The close code and reason a peer sent, or the library's "abnormal closure" when it sent none."""
    frame = exc.rcvd
    return f"{frame.code} {frame.reason}".strip() if frame is not None else "1006 no close frame"


class WsConnection:
    """A live WebSocket to the exchange (build with :meth:`open`)."""

    def __init__(
        self,
        socket: ClientConnection,
        on_message: Callable[[str, Any, int], None],
        clock_ns: Callable[[], int],
        *,
        ping_interval_s: float = 50.0,
    ) -> None:
        self._socket = socket
        self._on_message = on_message
        self._clock_ns = clock_ns
        self._ping_interval = ping_interval_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._closed = asyncio.Event()
        self.close_reason = ""
        #: Messages received, pongs received, and messages that could not be decoded.
        self.received = 0
        self.pongs = 0
        self.malformed = 0
        self.subscribed: list[Mapping[str, Any]] = []
        self._reader = asyncio.create_task(self._read(), name="hl-ws-reader")
        self._pinger = asyncio.create_task(self._ping(), name="hl-ws-ping")

    @classmethod
    async def open(
        cls,
        url: str,
        on_message: Callable[[str, Any, int], None],
        clock_ns: Callable[[], int],
        *,
        ping_interval_s: float = 50.0,
        open_timeout_s: float = 10.0,
        compression: bool = False,
    ) -> WsConnection:
        """Connect to ``url``; the library's own pings are off (the exchange wants its JSON ping)."""
        socket = await connect(
            url,
            ping_interval=None,
            open_timeout=open_timeout_s,
            compression="deflate" if compression else None,
            max_size=16 * 1024 * 1024,
            max_queue=None,
        )
        return cls(socket, on_message, clock_ns, ping_interval_s=ping_interval_s)

    @property
    def up(self) -> bool:
        """True until the socket closes."""
        return not self._closed.is_set()

    async def wait_closed(self) -> str:
        """Wait until the socket is closed; return why."""
        await self._closed.wait()
        return self.close_reason

    async def close(self) -> None:
        """Close the socket and stop the tasks."""
        with contextlib.suppress(Exception):
            await self._socket.close()
        for task in (self._pinger, self._reader):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._finish("closed by us")

    async def subscribe(self, subscriptions: list[Mapping[str, Any]]) -> None:
        """Send one subscribe request per subscription (their data then flows to ``on_message``)."""
        for sub in subscriptions:
            await self._socket.send(codec.dumps({"method": "subscribe", "subscription": sub}), text=True)
            self.subscribed.append(sub)

    async def send_post(self, kind: str, payload: Mapping[str, Any]) -> asyncio.Future[Any]:
        """Send ``{"method": "post", "id", "request": {"type": kind, "payload"}}``; the future gets the answer.

        The future's result is the REST answer (for ``action`` and ``info`` alike); an ``error`` answer sets the
        typed error of its text; a socket that closes first sets :class:`ConnectionLost`.
        """
        if not self.up:
            raise ConnectionLost("the WebSocket is closed")
        post_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[post_id] = future
        message = codec.dumps({"method": "post", "id": post_id, "request": {"type": kind, "payload": payload}})
        try:
            await self._socket.send(message, text=True)
        except websockets.ConnectionClosed as exc:
            self._pending.pop(post_id, None)
            if future.done():  # the reader saw the close first and failed it: that news is this very exception
                future.exception()
            else:
                future.cancel()
            raise ConnectionLost(f"the WebSocket closed while sending ({_close_text(exc)})") from None
        return future

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._socket.send(PING, text=True)
            except websockets.ConnectionClosed:
                return

    async def _read(self) -> None:
        reason = ""
        try:
            async for raw in self._socket:
                ts = self._clock_ns()
                self.received += 1
                try:
                    message = codec.loads(raw)
                except ValueError:
                    # The exchange greets with plain text ("Websocket connection established.").
                    if not (isinstance(raw, str) and raw.startswith("Websocket connection")):
                        self.malformed += 1
                        log.warning("Undecodable WebSocket message skipped", extra={"fields": {"head": str(raw)[:80]}})
                    continue
                if not isinstance(message, dict):
                    self.malformed += 1
                    continue
                channel = message.get("channel")
                if channel == "post":
                    self._resolve(message.get("data"))
                elif channel == "pong":
                    self.pongs += 1
                elif channel == "subscriptionResponse":
                    continue
                elif isinstance(channel, str):
                    try:
                        self._on_message(channel, message.get("data"), ts)
                    except Exception as exc:  # a bug in a handler must not stop the stream: log, count, go on
                        self.malformed += 1
                        log.error("WebSocket message handler failed", exc_info=exc,
                                  extra={"fields": {"channel": channel}})
                    # Frames of one block arrive together and the socket hands them over without suspending:
                    # yield, so the runner decides on this frame's events before the next frame is decoded.
                    await asyncio.sleep(0)
                else:
                    self.malformed += 1
        except websockets.ConnectionClosed as exc:
            reason = f"connection closed ({_close_text(exc)})"
        except OSError as exc:
            reason = f"socket error: {exc!r}"
        code, text = self._socket.close_code, self._socket.close_reason
        self._finish(reason or f"closed by the exchange ({code} {text or ''})".strip())

    def _resolve(self, data: Any) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), int):
            self.malformed += 1
            return
        future = self._pending.pop(data["id"], None)
        if future is None or future.done():
            return
        response = data.get("response")
        if not isinstance(response, Mapping):
            future.set_exception(MalformedResponse(f"post answer without a response: {data!r}"))
        elif response.get("type") == "error":
            future.set_exception(error_from_message(str(response.get("payload"))))
        else:
            future.set_result(response.get("payload"))

    def _finish(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = reason
        self._closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        self._pending.clear()
        self._pinger.cancel()
