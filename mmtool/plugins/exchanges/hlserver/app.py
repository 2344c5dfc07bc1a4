"""The aiohttp application (``POST /info``, ``POST /exchange``, ``GET /ws`` on one port) and :class:`LocalExchange`.

Time: the synthetic markets run on the wall clock. A periodic task (every ``tick_ms``) and every request advance
them to "now" before anything is read or done, then push what changed to WebSocket subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from aiohttp import web

from mmtool.core.errors import ConfigError
from mmtool.plugins.exchanges.hlserver.config import ServerConfig
from mmtool.plugins.exchanges.hlserver.faults import FaultInjector
from mmtool.plugins.exchanges.hlserver.handlers import BadRequest, ExchangeCore
from mmtool.plugins.exchanges.hlserver.journal import Journal
from mmtool.plugins.exchanges.hlserver.ratelimit import IpLimiter, batch_size, exchange_weight, info_weight
from mmtool.plugins.exchanges.hlserver.venue import Venue
from mmtool.plugins.exchanges.hlserver.ws import Hub, dumps

log = logging.getLogger("mmtool.hlserver")
JSON_PARSE_ERROR = "Failed to parse the request body as JSON"


class LocalExchange:
    """A Hyperliquid-compatible exchange on ``config.host:config.port`` (port 0: a free port), in this process.

    Use it as ``async with LocalExchange(ServerConfig(port=0)) as ex:``; ``ex.url`` is its base URL (what the SDK
    takes as ``base_url``), ``ex.state`` the :class:`Venue` (accounts, engines, ledgers), ``ex.journal`` the
    records of actions, fills and faults.
    """

    def __init__(self, config: ServerConfig | None = None, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config if config is not None else ServerConfig(port=0)
        self._clock = clock_ns
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.port = 0
        self._start_ns = 0
        self.journal = Journal(None)
        self.state: Venue
        self.core: ExchangeCore
        self.hub: Hub

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Build the venue and start serving."""
        cfg = self.config
        self._start_ns = self._clock()
        self.journal = Journal(cfg.log_json)
        try:
            self.state = Venue(cfg, self._start_ns, self.journal)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid market settings: {exc}") from exc
        self.core = ExchangeCore(cfg, self.state, self.journal)
        self.faults = FaultInjector(cfg.faults, self.journal)
        self.limiter = IpLimiter(cfg.ip_weight_per_minute)
        self.hub = Hub(cfg, self.core, self.limiter, self.faults, self.journal, self.sync, self.flush)
        app = web.Application(client_max_size=cfg.max_body_bytes)
        app.router.add_post("/info", self._info)
        app.router.add_post("/exchange", self._exchange)
        app.router.add_get("/ws", self.hub.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        self.sync()
        self._ticker = asyncio.ensure_future(self._tick_loop())
        self.journal.write(self.state.now_ms, "started", host=cfg.host, port=self.port, seed=cfg.seed,
                           assets=[a.name for a in cfg.assets], chain=cfg.chain)

    async def stop(self) -> None:
        """Stop serving and close the journal."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self.hub.close_all()
            await self._runner.cleanup()
            self._runner = None
        self.journal.close()

    async def __aenter__(self) -> LocalExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:3001`` (the SDK's ``base_url``)."""
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL, e.g. ``ws://127.0.0.1:3001/ws``."""
        return "ws" + self.url[len("http"):] + "/ws"

    def elapsed_s(self) -> float:
        """Seconds since the server started (fault schedules count from here)."""
        return (self._clock() - self._start_ns) / 1e9

    # ------------------------------------------------------------------------------------------- ticking

    def sync(self) -> None:
        """Advance the markets to now."""
        self.state.advance(self._clock())

    def flush(self) -> None:
        """Push queued user-channel messages to subscribers."""
        for key, message in self.state.take_outbox():
            self.hub.publish(key, message)

    def tick(self) -> None:
        """One clock tick: advance, push user and market data, apply scheduled ws faults."""
        self.sync()
        self.flush()
        elapsed = self.elapsed_s()
        self.hub.publish_market(self.faults.stalled(elapsed, self.state.now_ms))
        if self.faults.periodic_drop_due(elapsed):
            self.hub.drop_all("periodic")
        if self.faults.random_drop_round(elapsed):
            self.hub.drop_random()

    async def _tick_loop(self) -> None:
        interval = self.config.tick_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bug in one tick must not stop the exchange; it is logged
                log.exception("tick failed")

    # ---------------------------------------------------------------------------------------------- http

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, is_info=True)

    async def _exchange(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, is_info=False)

    async def _serve(self, request: web.Request, *, is_info: bool) -> web.StreamResponse:
        fault = self.faults.http_fault(request.path, self._clock() // 1_000_000)
        if fault is not None:
            status, text = fault
            return web.Response(status=status, text=text,
                                content_type="application/json" if status == 429 else "text/plain")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return web.Response(status=400, text=f"{JSON_PARSE_ERROR}: {exc}")
        if is_info:
            weight = info_weight(body.get("type") if isinstance(body, dict) else None)
        else:
            weight = exchange_weight(batch_size(body))
        ip = request.remote or "unknown"
        if not self.limiter.take(ip, weight, asyncio.get_running_loop().time()):
            self.journal.write(self._clock() // 1_000_000, "rate_limited", ip=ip, path=request.path)
            return web.Response(status=429, text="null", content_type="application/json")
        self.sync()
        try:
            result = self.core.info(body) if is_info else self.core.exchange(body)
        except BadRequest as exc:
            return web.Response(status=422, text=str(exc))
        finally:
            self.flush()
        return web.Response(text=dumps(result), content_type="application/json")
