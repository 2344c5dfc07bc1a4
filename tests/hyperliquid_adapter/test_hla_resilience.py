"""Reconnection with resynchronisation, and the dead man's switch, against a real local exchange."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hla_helpers import (
    QUIET,
    Collector,
    account,
    adapter,
    cloid,
    evolve,
    exchange,
    open_cloids,
    passive_price,
    run,
    server_position,
)

from mmtool.core.types import Connection, Fill, OrderStatus, Place, Side, Tif
from mmtool.plugins.exchanges.hlserver.config import FaultConfig
from mmtool.plugins.exchanges.hlserver.faults import FaultInjector

ETH = "ETH"


def test_reconnect_resyncs_orders_and_recovers_fills_exactly_once() -> None:
    async def body() -> None:
        config = evolve(QUIET, reconnect_min_secs=0.8, reconnect_max_secs=2.0)
        async with exchange() as ex, adapter(ex, config=config) as a:
            got = Collector(a)
            bid = passive_price(a, Side.BUY)
            await a.submit([Place(cloid(1), ETH, Side.BUY, bid, Decimal("0.01"), Tif.ALO),
                            Place(cloid(2), ETH, Side.BUY, bid - 1, Decimal("0.01"), Tif.ALO)])
            await got.wait_for(lambda: got.updates(cloid(1)) and got.updates(cloid(2)))
            top = ex.state.book_levels(ex.state.by_name[ETH])[1][0]
            taker = a.rules(ETH).round_price(Decimal(top["px"]) * Decimal("1.01"), Side.BUY, direction="aggressive")

            ex.hub.drop_all("test")  # the server drops the socket mid-stream
            # While we are away: the exchange cancels one order, and a taker order of ours fills.
            ex.state.cancel(account(ex, a.user), 0, cloid(2), "marginCanceled")
            ex.state.take_outbox()
            await got.wait_for(lambda: got.of(Connection))
            await a.submit([Place(cloid(3), ETH, Side.BUY, taker, Decimal("0.03"), Tif.IOC)])
            await got.wait_for(lambda: len(got.of(Connection)) == 2, timeout=10)

            down, up = got.of(Connection)
            assert not down.up and up.up and a.reconnects == 1
            after_up = got.events[got.events.index(up):]
            fills = got.of(Fill)
            assert sum(f.size for f in fills) == Decimal("0.03") == server_position(ex, a.user)
            assert len({f.trade_id for f in fills}) == len(fills) == len(account(ex, a.user).fills)
            assert not any(isinstance(ev, Fill) for ev in after_up), "missed fills came before Connection(up)"
            cancelled = got.updates(cloid(2))[-1]
            assert cancelled.status is OrderStatus.CANCELLED and got.events.index(cancelled) < got.events.index(up)
            assert got.updates(cloid(1))[-1].status is OrderStatus.RESTING, "the order still resting stays"
            assert a.ledger.position == Decimal("0.03") and a.connected
            # The new socket streams again, and nothing arrives twice later on.
            await got.wait_for(lambda: len(got.events) > len(after_up) + got.events.index(up) + 3)
            assert len(got.of(Fill)) == len(fills)
            assert await a.cancel_all() == 0 and open_cloids(ex, a.user) == set()
            await got.stop()

    run(body())


#: A dead man's switch refreshed every second with a 5.5 s horizon, for the tests that watch it.
DEAD_MAN = evolve(QUIET, dead_man_switch=True, dead_man_refresh_secs=1.0, dead_man_horizon_secs=5.5)


def test_dead_man_switch_cancels_after_the_loop_stops_and_clears_on_a_clean_exit() -> None:
    async def body() -> None:
        config = DEAD_MAN
        async with exchange() as ex:
            async with adapter(ex, config=config) as clean:
                await asyncio.sleep(0.2)
                assert account(ex, clean.user).scheduled_cancel_ms is not None
                assert await clean.cancel_all() == 0
            assert account(ex, clean.user).scheduled_cancel_ms is None, "cleared on a clean shutdown"

            async with adapter(ex, config=config) as a:
                got = Collector(a)
                await a.submit([Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"),
                                      Tif.ALO)])
                await got.wait_for(lambda: got.updates(cloid(1)))
                await asyncio.sleep(1.2)
                armed = account(ex, a.user).scheduled_cancel_ms
                assert armed is not None and armed > ex.state.now_ms
                await got.stop()  # the loop hangs: nobody pulls events, so the switch is no longer refreshed
                await asyncio.sleep(2.5)
                last = account(ex, a.user).scheduled_cancel_ms
                await asyncio.sleep(1.0)
                assert account(ex, a.user).scheduled_cancel_ms == last, "refreshing stopped"
                deadline = asyncio.get_running_loop().time() + 8
                while open_cloids(ex, a.user) and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.1)
                assert open_cloids(ex, a.user) == set(), "the exchange cancelled our orders"
                assert account(ex, a.user).schedule_triggers

    run(body())


def test_a_refused_clear_at_shutdown_is_tried_again() -> None:
    """The exchange answers 5xx for a moment as the session ends: clearing is idempotent, so it is retried, and the
    switch does not fire later for nothing."""

    async def body() -> None:
        config = DEAD_MAN
        async with exchange() as ex:
            async with adapter(ex, config=config) as a:
                await asyncio.sleep(0.2)
                assert account(ex, a.user).scheduled_cancel_ms is not None
                assert await a.cancel_all() == 0
                saved = ex.faults
                ex.faults = FaultInjector(FaultConfig(http_5xx_prob=1.0), ex.journal)

                async def recover() -> None:
                    await asyncio.sleep(0.3)
                    ex.faults = saved

                healing = asyncio.ensure_future(recover())
            await healing
            assert account(ex, a.user).scheduled_cancel_ms is None, "cleared once the exchange answered again"
            assert not a._dead_man_switch.armed

    run(body())


def test_an_unexpected_failure_of_the_resync_is_retried_not_the_end_of_the_connection() -> None:
    async def body() -> None:
        config = evolve(QUIET, reconnect_min_secs=0.2, reconnect_max_secs=0.5)
        async with exchange() as ex, adapter(ex, config=config) as a:
            got = Collector(a)
            resync, calls = a._supervisor.resync, []

            async def failing_once(dropped_ms: int) -> None:
                calls.append(dropped_ms)
                if len(calls) == 1:
                    raise RuntimeError("a bug on the way back")
                await resync(dropped_ms)

            a._supervisor.resync = failing_once
            ex.hub.drop_all("test")
            await got.wait_for(lambda: len(got.of(Connection)) == 2, timeout=10)
            down, up = got.of(Connection)
            assert not down.up and up.up and a.connected
            assert len(calls) == 2, "the failed resync was followed by a new connection and a resync"
            await got.stop()

    run(body())
