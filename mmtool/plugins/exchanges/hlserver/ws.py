"""The WebSocket at ``/ws``: subscriptions, pushes, ``ping``/``pong``, ``post`` requests, limits and ws faults.

Each connection has an outgoing queue drained by its own writer task, so one slow client never holds up the
others, and so faults act per connection: a delay holds each message until its due time (throughput is kept),
a duplicated user message is sent twice, a reordered one swaps with the next. A connection silent for
``ws_idle_timeout_secs`` is closed, as the exchange does after 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from mmtool.plugins.exchanges.hlserver import views
from mmtool.plugins.exchanges.hlserver.auth import is_address
from mmtool.plugins.exchanges.hlserver.config import ServerConfig
from mmtool.plugins.exchanges.hlserver.faults import FaultInjector
from mmtool.plugins.exchanges.hlserver.handlers import BadRequest, ExchangeCore
from mmtool.plugins.exchanges.hlserver.journal import Journal
from mmtool.plugins.exchanges.hlserver.numbers import is_int
from mmtool.plugins.exchanges.hlserver.ratelimit import IpLimiter, batch_size, exchange_weight, info_weight
from mmtool.plugins.exchanges.hlserver.venue import Key

log = logging.getLogger("mmtool.hlserver")

USER_CHANNELS = frozenset({"userFills", "orderUpdates", "userEvents"})
COIN_CHANNELS = frozenset({"l2Book", "trades", "bbo", "activeAssetCtx"})
GREETING = "Websocket connection established."
PARSE_ERROR = "Error parsing JSON into valid websocket request: "
#: How long a reordered message waits for a successor to swap with.
REORDER_WAIT_S = 1.0
CTX_INTERVAL_S = 1.0


def dumps(message: Any) -> str:
    """Compact JSON, as the exchange sends it."""
    return json.dumps(message, separators=(",", ":"), default=str)


class Connection:
    """One WebSocket client: its subscriptions and outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, ip: str, cid: int) -> None:
        self.ws = ws
        self.ip = ip
        self.id = cid
        self.subs: set[Key] = set()
        self.queue: asyncio.Queue[tuple[float, str, bool]] = asyncio.Queue()


class Hub:
    """Every WebSocket connection, and the fan-out of venue messages and market data to subscribers."""

    def __init__(
        self, config: ServerConfig, core: ExchangeCore, limiter: IpLimiter, faults: FaultInjector, journal: Journal,
        sync: Callable[[], None], flush: Callable[[], None],
    ) -> None:
        self.config = config
        self.core = core
        self.venue = core.venue
        self.limiter = limiter
        self.faults = faults
        self.journal = journal
        self._sync = sync
        self._flush = flush
        self.connections: dict[int, Connection] = {}
        self._next_id = 1
        self._messages: dict[str, tuple[float, int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_bbo: dict[str, Any] = {}
        self._last_ctx = 0.0

    # ------------------------------------------------------------------------------------------ fan-out

    def has_subscribers(self, key: Key) -> bool:
        """True when some connection is subscribed to ``key``."""
        return any(key in c.subs for c in self.connections.values())

    def publish(self, key: Key, message: dict[str, Any]) -> None:
        """Queue ``message`` for every connection subscribed to ``key``."""
        text: str | None = None
        user = key[0] in USER_CHANNELS
        for conn in self.connections.values():
            if key in conn.subs:
                text = text or dumps(message)
                self._push(conn, text, user)

    def _push(self, conn: Connection, text: str, user: bool = False) -> None:
        delay = self.faults.ws_delay_s()
        conn.queue.put_nowait((asyncio.get_running_loop().time() + delay, text, user))

    def publish_market(self, stalled: bool) -> None:
        """Push what changed in the markets since the last call (nothing but trades are lost while stalled)."""
        venue = self.venue
        if stalled:
            for asset in venue.assets:
                asset.pending_trades.clear()
            return
        for asset in venue.assets:
            name = asset.name
            if asset.book_dirty:
                asset.book_dirty = False
                if self.has_subscribers(("l2Book", name)):
                    self.publish(("l2Book", name), {"channel": "l2Book", "data": views.l2_book(venue, asset)})
                if self.has_subscribers(("bbo", name)):
                    data = views.bbo(venue, asset)
                    if data["bbo"] != self._last_bbo.get(name):
                        self._last_bbo[name] = data["bbo"]
                        self.publish(("bbo", name), {"channel": "bbo", "data": data})
            if asset.pending_trades:
                self.publish(("trades", name), {"channel": "trades", "data": asset.pending_trades})
                asset.pending_trades = []
        if any(a.mid_dirty for a in venue.assets):
            for asset in venue.assets:
                asset.mid_dirty = False
            if self.has_subscribers(("allMids",)):
                self.publish(("allMids",), {"channel": "allMids", "data": {"mids": views.all_mids(venue)}})
        now = asyncio.get_running_loop().time()
        if now - self._last_ctx >= CTX_INTERVAL_S:
            self._last_ctx = now
            for asset in venue.assets:
                key = ("activeAssetCtx", asset.name)
                if self.has_subscribers(key):
                    self.publish(key, self._ctx_message(asset.name))

    def _ctx_message(self, coin: str) -> dict[str, Any]:
        asset = self.venue.by_name[coin]
        return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": views.asset_ctx(self.venue, asset)}}

    # ------------------------------------------------------------------------------------------- faults

    def drop_all(self, reason: str) -> int:
        """Close every connection now (a fault); how many were closed."""
        conns = list(self.connections.values())
        for conn in conns:
            self._drop(conn, reason)
        return len(conns)

    def drop_random(self) -> None:
        """Close each connection with the configured probability (one round of random drops)."""
        for conn in list(self.connections.values()):
            if self.faults.drop_this():
                self._drop(conn, "random")

    def _drop(self, conn: Connection, reason: str) -> None:
        self.journal.write(self.venue.now_ms, "fault", fault="ws_drop", reason=reason, conn=conn.id)
        self.connections.pop(conn.id, None)
        self._spawn(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped (fault injection)"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        for conn in list(self.connections.values()):
            self.connections.pop(conn.id, None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    # --------------------------------------------------------------------------------------- connections

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one WebSocket connection until it closes, idles out or is dropped."""
        ip = request.remote or "unknown"
        if sum(1 for c in self.connections.values() if c.ip == ip) >= self.config.ws_connections_per_ip:
            return web.Response(status=429, text="Too many websocket connections from this IP")
        ws = web.WebSocketResponse(max_msg_size=self.config.max_body_bytes, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, ip, self._next_id)
        self._next_id += 1
        self.connections[conn.id] = conn
        writer = asyncio.ensure_future(self._writer(conn))
        if self.config.faults.ws_delay_ms > 0 or self.config.faults.ws_delay_jitter_ms > 0:
            self.journal.write(self.venue.now_ms, "fault", fault="ws_delay", conn=conn.id,
                               delay_ms=self.config.faults.ws_delay_ms,
                               jitter_ms=self.config.faults.ws_delay_jitter_ms)
        self._push(conn, GREETING)
        try:
            while conn.id in self.connections:
                try:
                    msg = await ws.receive(timeout=self.config.ws_idle_timeout_secs)
                except TimeoutError:
                    self.journal.write(self.venue.now_ms, "ws_idle_close", conn=conn.id)
                    break
                if msg.type == WSMsgType.TEXT:
                    if not self._count_message(ip):
                        self._push(conn, dumps({"channel": "error", "data": "Too many websocket messages"}))
                        break
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._push(conn, dumps({"channel": "error", "data": PARSE_ERROR + "binary frame"}))
                else:
                    break
        finally:
            self.connections.pop(conn.id, None)
            await self._finish(conn, writer)
        return ws

    async def _finish(self, conn: Connection, writer: asyncio.Task[Any]) -> None:
        # Let queued messages (an error text, a last answer) go out before closing.
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(self._drain_queue(conn), timeout=0.5)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
        with contextlib.suppress(Exception):
            await conn.ws.close()

    @staticmethod
    async def _drain_queue(conn: Connection) -> None:
        while not conn.queue.empty():
            await asyncio.sleep(0.01)

    def _count_message(self, ip: str) -> bool:
        now = asyncio.get_running_loop().time()
        start, count = self._messages.get(ip, (now, 0))
        if now - start >= 60.0:
            start, count = now, 0
        self._messages[ip] = (start, count + 1)
        return count < self.config.ws_messages_per_minute

    async def _writer(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, text, user = await conn.queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if user and self.faults.reorder():
                    try:
                        _, following, _ = await asyncio.wait_for(conn.queue.get(), timeout=REORDER_WAIT_S)
                    except TimeoutError:
                        following = None
                    if following is not None:
                        self.journal.write(self.venue.now_ms, "fault", fault="reorder", conn=conn.id,
                                           first=following[:200], second=text[:200])
                        await conn.ws.send_str(following)
                await conn.ws.send_str(text)
                if user and self.faults.duplicate():
                    self.journal.write(self.venue.now_ms, "fault", fault="duplicate", conn=conn.id,
                                       message=text[:200])
                    await conn.ws.send_str(text)
                conn.queue.task_done()
        except (ConnectionResetError, RuntimeError):
            # The peer went away: the reader side notices and cleans up.
            return

    # ------------------------------------------------------------------------------------------ requests

    def _on_text(self, conn: Connection, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            self._push(conn, dumps({"channel": "error", "data": PARSE_ERROR + text[:200]}))
            return
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            self._push(conn, dumps({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(conn, method, msg.get("subscription"))
        elif method == "post":
            self._post(conn, msg)
        else:
            self._push(conn, dumps({"channel": "error", "data": PARSE_ERROR + text[:200]}))

    def _key(self, sub: Any) -> Key | str:
        """The subscription's key, or the error text for an invalid subscription."""
        if not isinstance(sub, dict) or not isinstance(sub.get("type"), str):
            return "Invalid subscription: expected an object with a type"
        kind = sub["type"]
        if kind == "allMids":
            return ("allMids",)
        if kind in COIN_CHANNELS:
            coin = sub.get("coin")
            if not isinstance(coin, str) or coin not in self.venue.by_name:
                return f"Invalid subscription: unknown coin {str(coin)[:40]!r}"
            return (kind, coin)
        if kind in USER_CHANNELS:
            user = sub.get("user")
            if not is_address(user):
                return "Invalid subscription: user must be an address"
            self.venue.account(user)
            return (kind, user.lower())
        return f"Invalid subscription: unknown type {kind[:40]!r}"

    def _subscription(self, conn: Connection, method: str, sub: Any) -> None:
        key = self._key(sub)
        if isinstance(key, str):
            self._push(conn, dumps({"channel": "error", "data": f"{key}: {dumps(sub)[:200]}"}))
            return
        if method == "unsubscribe":
            if key not in conn.subs:
                # The exchange's text; clients (e.g. @nktkas/hyperliquid) match the request by this prefix.
                self._push(conn, dumps({"channel": "error", "data": f"Already unsubscribed: {dumps(sub)[:200]}"}))
                return
            conn.subs.discard(key)
        else:
            if key in conn.subs:
                self._push(conn, dumps({"channel": "error", "data": f"Already subscribed: {dumps(sub)[:200]}"}))
                return
            used = sum(len(c.subs) for c in self.connections.values() if c.ip == conn.ip)
            if used >= self.config.ws_subscriptions_per_ip:
                self._push(conn, dumps({"channel": "error", "data": "Too many subscriptions"}))
                return
            conn.subs.add(key)
        ack = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        self._push(conn, dumps(ack))
        if method == "subscribe":
            self._sync()
            snapshot = self._snapshot(key)
            if snapshot is not None:
                self._push(conn, dumps(snapshot), key[0] in USER_CHANNELS)

    def _snapshot(self, key: Key) -> dict[str, Any] | None:
        venue = self.venue
        kind = key[0]
        if kind == "allMids":
            return {"channel": "allMids", "data": {"mids": views.all_mids(venue)}}
        if kind == "l2Book":
            return {"channel": "l2Book", "data": views.l2_book(venue, venue.by_name[key[1]])}
        if kind == "bbo":
            return {"channel": "bbo", "data": views.bbo(venue, venue.by_name[key[1]])}
        if kind == "activeAssetCtx":
            return self._ctx_message(key[1])
        if kind == "userFills":
            account = venue.account(key[1])
            return {"channel": "userFills", "data": {"user": account.address, "isSnapshot": True,
                                                     "fills": account.fills[-views.MAX_FILLS:]}}
        return None

    def _post(self, conn: Connection, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        request = msg.get("request")
        if not is_int(rid) or not isinstance(request, dict) or request.get("type") not in ("info", "action"):
            self._push(conn, dumps({"channel": "error", "data": PARSE_ERROR + dumps(msg)[:200]}))
            return
        payload = request.get("payload")
        is_info = request["type"] == "info"
        if is_info:
            weight = info_weight(payload.get("type") if isinstance(payload, dict) else None)
        else:
            weight = exchange_weight(batch_size(payload))
        loop = asyncio.get_running_loop()
        if not self.limiter.take(conn.ip, weight, loop.time()):
            response: dict[str, Any] = {"type": "error", "payload": "Too many requests: IP rate limit exceeded"}
        else:
            self._sync()
            try:
                if is_info:
                    result = self.core.info(payload)
                    response = {"type": "info", "payload": {"type": payload["type"], "data": result}}
                else:
                    response = {"type": "action", "payload": self.core.exchange(payload)}
            except BadRequest as exc:
                response = {"type": "error", "payload": str(exc)}
            self._flush()
        self._push(conn, dumps({"channel": "post", "data": {"id": rid, "response": response}}))
