"""The adapter against a real local exchange: every request type, signing, statuses, errors, nonces, agents, 429s."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hla_helpers import (
    AGENT_KEY,
    KEY,
    MASTER_KEY,
    QUIET,
    Collector,
    account,
    adapter,
    approve_agent,
    cloid,
    evolve,
    exchange,
    nonce_file,
    open_cloids,
    passive_price,
    run,
    server_position,
)

from mmtool.core.errors import ConfigError
from mmtool.core.types import Cancel, Connection, Fill, Modify, OrderStatus, Place, RateLimited, Side, Tif
from mmtool.plugins.exchanges.hlserver.config import FaultConfig
from mmtool.plugins.exchanges.hlserver.faults import FaultInjector
from mmtool.plugins.exchanges.hyperliquid import errors as e
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
from mmtool.plugins.exchanges.hyperliquid.rest import NotSent, TransportError
from mmtool.plugins.exchanges.hyperliquid.signing import Signer
from mmtool.plugins.exchanges.hyperliquid.wire import OrderResult, OrderResultKind, order_action, order_wire

ETH = "ETH"


async def rest_bid(a: HyperliquidAdapter, got: Collector, size: str) -> Decimal:
    """Place ``cloid(1)``, a post-only bid 100 bps under the mid, and wait for its oid; its price."""
    bid = passive_price(a, Side.BUY)
    await a.submit([Place(cloid(1), ETH, Side.BUY, bid, Decimal(size), Tif.ALO)])
    await got.wait_for(lambda: any(u.oid for u in got.updates(cloid(1))))
    return bid


def test_every_info_request_and_connect_state() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex, leverage=3) as a:
            rules = a.rules(ETH)
            assert (rules.sz_decimals, rules.max_leverage) == (4, 25) and a.asset_ids == {"ETH": 0, "BTC": 1}
            assert a.user == Signer(KEY).address.lower() and a.mid_price() is not None
            assert account(ex, a.user).leverage[0] == 3, "updateLeverage went through"
            user = {"user": a.user}
            meta, ctxs = await a.rest.info({"type": "metaAndAssetCtxs"})
            assert meta["universe"][0]["name"] == ETH and "markPx" in ctxs[0]
            assert ETH in await a.rest.info({"type": "allMids"})
            book = await a.rest.info({"type": "l2Book", "coin": ETH})
            assert book["coin"] == ETH and len(book["levels"]) == 2
            assert "marginSummary" in await a.rest.info({"type": "clearinghouseState", **user})
            for kind in ("openOrders", "frontendOpenOrders", "userFills"):
                assert await a.rest.info({"type": kind, **user}) == []
            assert await a.rest.info({"type": "userFillsByTime", **user, "startTime": 0}) == []
            assert (await a.rest.info({"type": "orderStatus", **user, "oid": cloid(1)}))["status"] == "unknownOid"
            assert (await a.rest.info({"type": "userRateLimit", **user}))["nRequestsCap"] >= 10_000
            assert isinstance(await a.rest.info({"type": "fundingHistory", "coin": ETH, "startTime": 0}), list)
            assert a.limits.ip.used > 0 and a.limits.address.refreshed
            assert await a.account_value() == 100_000.0 and (await a.position()).size == 0
            with pytest.raises(Exception, match="unknown asset"):
                a.rules("DOGE")

    run(body())


def test_batched_orders_statuses_modifies_and_cancels() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            bid, ask = passive_price(a, Side.BUY), passive_price(a, Side.SELL)
            book = ex.state.book_levels(ex.state.by_name[ETH])
            best_ask = Decimal(book[1][0]["px"])
            places = [
                Place(cloid(1), ETH, Side.BUY, bid, Decimal("0.01"), Tif.ALO),
                Place(cloid(2), ETH, Side.SELL, ask, Decimal("0.01"), Tif.GTC),
                Place(cloid(3), ETH, Side.BUY, best_ask, Decimal("0.01"), Tif.ALO),  # would cross
                Place(cloid(4), ETH, Side.BUY, bid, Decimal("0.001"), Tif.ALO),  # below 10 USDC
                Place(cloid(5), ETH, Side.SELL, bid, Decimal("0.01"), Tif.ALO, reduce_only=True),  # nothing to reduce
                Place(cloid(6), ETH, Side.BUY, bid, Decimal("0.01"), Tif.IOC),  # nothing to match
            ]
            await a.submit(places)
            await got.wait_for(lambda: all(got.updates(p.cloid) for p in places))
            first = {p.cloid: got.updates(p.cloid)[0] for p in places}
            assert first[cloid(1)].status is OrderStatus.RESTING and first[cloid(1)].oid is not None
            assert first[cloid(2)].status is OrderStatus.RESTING
            for n, error in ((3, e.PostOnlyWouldCross), (4, e.MinNotionalRejected), (5, e.ReduceOnlyRejected),
                             (6, e.IocCancelled)):
                update = first[cloid(n)]
                assert update.status is OrderStatus.REJECTED and e.classify_error(update.reason) is error, update
                assert update.crossed is (n == 3), "only the post-only refusal says the price crossed the book"
            [batch] = ex.journal.of_kind("action")
            assert len(batch["action"]["orders"]) == 6, "one batched order action"
            assert batch["signer"].lower() == a.signer.address.lower(), "the server recovered our signer"
            assert open_cloids(ex, a.user) == {cloid(1), cloid(2)}

            new_bid, new_ask = bid - 1, ask + 1
            await a.submit([
                Modify(cloid(1), ETH, Side.BUY, new_bid, Decimal("0.02"), new_cloid=cloid(11)),
                Modify(cloid(2), ETH, Side.SELL, new_ask, Decimal("0.02"), tif=Tif.GTC, new_cloid=cloid(12)),
                Modify(cloid(3), ETH, Side.BUY, new_bid, Decimal("0.02"), new_cloid=cloid(13)),  # never rested
            ])
            await got.wait_for(
                lambda: got.updates(cloid(11)) and got.updates(cloid(12)) and len(got.updates(cloid(3))) > 1
            )
            ack = got.updates(cloid(11))[0]
            assert ack.status is OrderStatus.RESTING and ack.price == new_bid and ack.size == Decimal("0.02")
            assert got.updates(cloid(3))[-1].reason.startswith("modify: ")
            assert ex.journal.of_kind("action")[-1]["action"]["type"] == "batchModify"
            orders = {o.cloid: o for o in account(ex, a.user).open_orders()}
            assert orders[cloid(11)].limit_px == new_bid and orders[cloid(12)].sz == Decimal("0.02")

            # A post-only modify through the book is refused the same way, and says so.
            top_ask = Decimal(ex.state.book_levels(ex.state.by_name[ETH])[1][0]["px"])
            seen = len(got.updates(cloid(11)))
            await a.submit([Modify(cloid(11), ETH, Side.BUY, top_ask, Decimal("0.02"))])
            await got.wait_for(lambda: len(got.updates(cloid(11))) > seen)
            refused = got.updates(cloid(11))[-1]
            assert refused.status is OrderStatus.REJECTED and refused.reason.startswith("modify: ") and refused.crossed

            await a.submit([Cancel(cloid(11), ETH), Cancel(cloid(99), ETH)])
            await got.wait_for(lambda: got.updates(cloid(11))[-1].status is OrderStatus.CANCELLED
                               and got.updates(cloid(99)))
            failed = got.updates(cloid(99))[0]
            assert failed.status is OrderStatus.RESTING and failed.reason.startswith("cancel: ")
            assert ex.journal.of_kind("action")[-1]["action"]["type"] == "cancelByCloid"
            assert open_cloids(ex, a.user) == {cloid(12)}
            assert a.orders.get(cloid(12)) is not None and a.orders.get(cloid(11)) is None
            assert await a.cancel_all() == 0 and open_cloids(ex, a.user) == set()
            await got.stop()

    run(body())


def test_taker_fill_events_match_the_server() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            top = ex.state.book_levels(ex.state.by_name[ETH])[1][0]
            price = a.rules(ETH).round_price(Decimal(top["px"]) * Decimal("1.01"), Side.BUY, direction="aggressive")
            await a.submit([Place(cloid(1), ETH, Side.BUY, price, Decimal("0.05"), Tif.IOC)])
            await got.wait_for(lambda: sum(f.size for f in got.of(Fill)) == Decimal("0.05"))
            await asyncio.sleep(0.3)  # the same fills also come on the userEvents channel: none may count twice
            fills = got.of(Fill)
            assert len({f.trade_id for f in fills}) == len(fills) == len(account(ex, a.user).fills)
            assert all(f.cloid == cloid(1) for f in fills)
            assert got.updates(cloid(1))[0].status is OrderStatus.FILLED
            assert a.ledger.position == server_position(ex, a.user) == Decimal("0.05") == (await a.position()).size
            await got.stop()

    run(body())


def test_a_modified_order_lives_on_under_its_new_oid_and_its_fills_find_it() -> None:
    """As on the exchange, a modify cancels the old oid and rests the order under a new one, and fills name the
    order by oid alone: the old oid's cancellation must not end our order, and the fill of the new oid must reach
    the engine with our cloid."""

    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            bid = await rest_bid(a, got, "0.01")
            first_oid = got.updates(cloid(1))[-1].oid
            moved = bid + 1
            await a.submit([Modify(cloid(1), ETH, Side.BUY, moved, Decimal("0.02"))])
            await got.wait_for(lambda: any(u.price == moved for u in got.updates(cloid(1))))
            await asyncio.sleep(0.3)  # the old oid's cancellation has come by now
            new_oid = got.updates(cloid(1))[-1].oid
            assert new_oid is not None and new_oid != first_oid
            assert all(u.status is OrderStatus.RESTING for u in got.updates(cloid(1))), got.updates(cloid(1))
            assert a.orders.get(cloid(1)).oid == new_oid and a.orders.cloid_of_oid(first_oid) == cloid(1)

            # A market sell trades through our bid: a maker fill of the new oid, with no cloid on the wire.
            acct, market = account(ex, a.user), ex.state.by_name[ETH]
            engine = market.engines[acct.address]
            below = int(moved * 10 ** market.rules.max_price_decimals) - 1
            engine.on_sweep(Side.SELL, ((below, 1),), ex.state.now_ns)
            ex.state._drain(acct, market, engine)
            await got.wait_for(lambda: got.of(Fill) and got.updates(cloid(1))[-1].status is OrderStatus.FILLED)
            [fill] = got.of(Fill)
            assert "cloid" not in acct.fills[-1] and acct.fills[-1]["oid"] == new_oid
            assert (fill.cloid, fill.oid, fill.size, fill.price) == (cloid(1), new_oid, Decimal("0.02"), moved)
            assert a.orders.get(cloid(1)) is None and open_cloids(ex, a.user) == set()
            await a._audit(grace_ns=0, why="test")
            assert a.discrepancies == 0, "our record agrees with the exchange's"
            await got.stop()

    run(body())


def test_post_only_mode_refuses_ioc_and_keeps_quoting_alo() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            text = "Only post-only orders allowed immediately after a network upgrade"
            a._place_result(Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.IOC),
                            OrderResult(OrderResultKind.ERROR, error=text))
            ioc = Place(cloid(2), ETH, Side.SELL, passive_price(a, Side.BUY), Decimal("0.01"), Tif.IOC, True)
            alo = Place(cloid(3), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO)
            await a.submit([ioc, alo])
            await got.wait_for(lambda: got.updates(cloid(2)) and got.updates(cloid(3)))
            assert got.updates(cloid(1))[0].status is OrderStatus.REJECTED
            assert got.updates(cloid(2))[0].status is OrderStatus.REJECTED
            assert "post-only mode" in got.updates(cloid(2))[0].reason and a.refused == 1
            assert got.updates(cloid(3))[0].status is OrderStatus.RESTING
            assert open_cloids(ex, a.user) == {cloid(3)}
            await got.stop()

    run(body())


def test_concurrent_submits_never_reuse_a_nonce_and_restarts_go_on_above(tmp_path: Path) -> None:
    async def body() -> None:
        config = evolve(QUIET, nonce_state_path=nonce_file(tmp_path))
        async with exchange() as ex:
            async with adapter(ex, config=config) as a:
                got = Collector(a)
                price = passive_price(a, Side.BUY, 300)
                await asyncio.gather(*(
                    a.submit([Place(cloid(n), ETH, Side.BUY, price, Decimal("0.01"), Tif.ALO)]) for n in range(25)
                ))
                await got.wait_for(lambda: all(got.updates(cloid(n)) for n in range(25)))
                assert all(got.updates(cloid(n))[0].status is OrderStatus.RESTING for n in range(25))
                nonces = [r["nonce"] for r in ex.journal.of_kind("action")]
                assert len(set(nonces)) == len(nonces) == 25 and nonces == sorted(nonces)
                last = a.nonces.last
                assert await a.cancel_all() == 0
                await got.stop()
            state = tmp_path / f"nonce-{Signer(KEY).address.lower()}.json"
            assert int(state.read_text()) > last
            again = HyperliquidAdapter(config, asset=ETH, network="localhost", private_key=KEY, base_url=ex.url)
            assert again.nonces.next() > last
            again.rest.close()

    run(body())


def test_a_second_session_signing_with_the_same_key_is_refused_at_connect(tmp_path: Path) -> None:
    async def body() -> None:
        config = evolve(QUIET, nonce_state_path=nonce_file(tmp_path))
        async with exchange() as ex, adapter(ex, config=config) as first:
            second = HyperliquidAdapter(config, asset=ETH, network="localhost", private_key=KEY, base_url=ex.url)
            with pytest.raises(e.NonceStateError, match="another process .* is signing with this key"):
                await second.connect()
            assert not ex.journal.of_kind("action") or all(
                r["nonce"] <= first.nonces.last for r in ex.journal.of_kind("action")
            ), "the refused session signed nothing"
        # The first session closed: a new one with the same key connects.
        async with exchange() as ex, adapter(ex, config=config) as third:
            assert third.connected

    run(body())


def test_agent_wallet_trades_for_the_master_account() -> None:
    async def body() -> None:
        master, agent = Signer(MASTER_KEY), Signer(AGENT_KEY)
        async with exchange() as ex:
            stranger = HyperliquidAdapter(QUIET, asset=ETH, network="localhost", private_key=AGENT_KEY,
                                          base_url=ex.url, account_address=master.address)
            with pytest.raises(ConfigError, match="must be approved by its account"):
                await stranger.connect()  # not approved yet: refused at start, not order by order
            async with adapter(ex, key=MASTER_KEY):
                pass  # the master account exists at the exchange
            answer = await approve_agent(ex, MASTER_KEY, agent.address, time.time_ns() // 1_000_000)
            assert answer["status"] == "ok", answer
            async with adapter(ex, key=AGENT_KEY, account_address=master.address) as a:
                assert a.user == master.address.lower() and a.signer.address == agent.address
                got = Collector(a)
                await a.submit([Place(cloid(2), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO)])
                await got.wait_for(lambda: got.updates(cloid(2)))
                assert got.updates(cloid(2))[0].status is OrderStatus.RESTING
                assert open_cloids(ex, master.address) == {cloid(2)}, "the order belongs to the master account"
                assert agent.address.lower() not in ex.state.accounts or not open_cloids(ex, agent.address)
                assert len(await a.open_orders()) == 1, "state is read for the master"
                assert await a.cancel_all() == 0
                await got.stop()
            # No account_address: the exchange says whose API wallet the key is, and that account is traded.
            async with adapter(ex, key=AGENT_KEY) as a:
                assert a.user == a.account_id == master.address.lower()
                got = Collector(a)
                await a.submit([Place(cloid(3), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO)])
                await got.wait_for(lambda: got.updates(cloid(3)))
                assert open_cloids(ex, master.address) == {cloid(3)} and len(await a.open_orders()) == 1
                assert await a.cancel_all() == 0 and open_cloids(ex, master.address) == set()
                await got.stop()

    run(body())


@pytest.mark.parametrize("case", ["agent-of-another", "main-key-for-another", "bare-hex-address"])
def test_the_signing_key_must_trade_for_the_account_it_reads(case: str) -> None:
    async def body() -> None:
        master, agent, other = Signer(MASTER_KEY), Signer(AGENT_KEY), Signer(KEY)
        async with exchange() as ex:
            for key in (MASTER_KEY, KEY):
                async with adapter(ex, key=key):
                    pass  # both main accounts exist at the exchange
            answer = await approve_agent(ex, MASTER_KEY, agent.address, time.time_ns() // 1_000_000)
            assert answer["status"] == "ok", answer
            if case == "bare-hex-address":  # no 0x, upper case: one spelling everywhere
                async with adapter(ex, key=AGENT_KEY, account_address=master.address[2:].upper()) as a:
                    assert a.user == master.address.lower()
                return
            key, account = (AGENT_KEY, other.address) if case == "agent-of-another" else (MASTER_KEY, other.address)
            wrong = HyperliquidAdapter(QUIET, asset=ETH, network="localhost", private_key=key, base_url=ex.url,
                                       account_address=account)
            with pytest.raises(ConfigError, match="network.account_address") as raised:
                await wrong.connect()
            assert ("API wallet of " + master.address.lower() if case == "agent-of-another"
                    else "main account of its own") in str(raised.value)
            assert not open_cloids(ex, other.address)

    run(body())


def test_an_exchange_that_does_not_answer_user_role_leaves_the_configuration_as_it_is(caplog) -> None:
    async def body() -> None:
        async with exchange() as ex:
            ex.core._info.pop("userRole")  # an older server
            async with adapter(ex) as a:
                assert a.user == Signer(KEY).address.lower() and a.connected
        assert "Could not ask the exchange for the signing key's role" in caplog.text

    run(body())


def test_http_429_becomes_rate_limited_events_and_rejections() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex, config=evolve(QUIET, use_ws_post=False, info_retries=1)) as a:
            got = Collector(a)
            saved = ex.faults
            ex.faults = FaultInjector(FaultConfig(http_429_prob=1.0), ex.journal)
            await a.submit([Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO),
                            Cancel(cloid(7), ETH)])
            await got.wait_for(lambda: got.updates(cloid(1)) and got.updates(cloid(7)))
            assert got.updates(cloid(1))[0].status is OrderStatus.REJECTED
            assert got.updates(cloid(1))[0].reason.startswith("rate limited")
            assert got.updates(cloid(7))[0].reason.startswith("cancel: rate limited")
            with pytest.raises(e.RateLimited):
                await a.rest.info({"type": "allMids"})
            await got.wait_for(lambda: len(got.of(RateLimited)) >= 4)
            assert a.limits.rate_limited >= 4 and a.rest.failures["rate_limited"] >= 4
            ex.faults = saved
            assert open_cloids(ex, a.user) == set()
            await got.stop()

    run(body())


def test_audit_cancels_orphans_and_settles_orders_the_socket_never_reported() -> None:
    async def body() -> None:
        async with exchange() as ex:
            async with adapter(ex) as first:
                price = passive_price(first, Side.BUY)
                await first._signed(order_action([order_wire(0, True, price, Decimal("0.01"), False, Tif.ALO,
                                                             cloid(50, 0xEE))]))
                assert open_cloids(ex, first.user) == {cloid(50, 0xEE)}
                first._last_remaining = 1  # leave it, as a crashed run would
            async with adapter(ex) as a:
                assert open_cloids(ex, a.user) == set(), "the leftover of the previous run was cancelled at connect"
                assert a.discrepancies == 1
                got = Collector(a)
                await a.submit([Place(cloid(1), ETH, Side.BUY, price, Decimal("0.01"), Tif.ALO)])
                await got.wait_for(lambda: got.updates(cloid(1)))
                # The exchange cancels it and the news is lost (as if the socket had dropped the message).
                ex.state.cancel(account(ex, a.user), 0, cloid(1), "marginCanceled")
                ex.state.take_outbox()
                await a._audit(grace_ns=0, why="test")
                await got.wait_for(lambda: got.updates(cloid(1))[-1].status is OrderStatus.CANCELLED)
                assert got.updates(cloid(1))[-1].reason == "marginCanceled" and a.discrepancies == 2
                assert not got.of(Connection)
                await got.stop()

    run(body())


def test_an_order_that_ended_at_the_exchange_moments_ago_is_settled_by_the_audit_without_a_discrepancy() -> None:
    """The audit lists orders, then asks ``orderStatus`` of one it misses: when the exchange ended it within the
    grace period, the socket's news is still on its way (a race, seen live with fills), not a discrepancy."""

    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            price = passive_price(a, Side.BUY)
            for n in (1, 2):
                await a.submit([Place(cloid(n), ETH, Side.BUY, price, Decimal("0.01"), Tif.ALO)])
                await got.wait_for(lambda n=n: any(u.oid for u in got.updates(cloid(n))))
            for n in (1, 2):
                a.orders.get(cloid(n)).last_action_ns -= 60 * 10**9  # placed long ago, as far as the audit cares
                ex.state.cancel(account(ex, a.user), 0, cloid(n), "marginCanceled")
            ex.state.take_outbox()  # the news of both is still in flight
            old = account(ex, a.user).order_by_ref(cloid(2))
            old.status_ts -= 10_000  # the exchange ended this one 10 s ago: its news was lost
            await a._audit(grace_ns=3 * 10**9, why="test")
            for n in (1, 2):
                await got.wait_for(lambda n=n: got.updates(cloid(n))[-1].status is OrderStatus.CANCELLED)
                assert got.updates(cloid(n))[-1].reason == "marginCanceled"
            assert a.discrepancies == 1, "only the order whose news was lost"
            await got.stop()

    run(body())


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "never-applied"])
def test_a_modify_whose_answer_was_lost_is_judged_by_value_not_by_its_text(applied: bool) -> None:
    """The engine's sizes carry trailing zeros (``0.0200``: whole lots of 0.0001) where the exchange writes
    ``0.02``; a modify whose answer was lost must still be recognised as applied (or not) from orderStatus."""

    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            bid = await rest_bid(a, got, "0.0100")
            modify = Modify(cloid(1), ETH, Side.BUY, bid - 1, Decimal("0.0200"))
            a.batch_action("modify", [modify])  # recorded as sent; its answer never comes back
            if applied:
                acct, market = account(ex, a.user), ex.state.by_name[ETH]
                answer = ex.state.modify(acct, cloid(1), market, Side.BUY, bid - 1, Decimal("0.02"), Tif.ALO,
                                         False, None)
                assert "resting" in answer, answer
            ex.state.take_outbox()  # nor does the socket's news of it
            await a._outcomes.recover("modify", [modify], retried=False)
            local = a.orders.get(cloid(1))
            await got.wait_for(lambda: local.modify is None)
            moved = (lambda u: u.price == bid - 1) if applied else (lambda u: u.reason.startswith("modify: "))
            await got.wait_for(lambda: any(moved(u) for u in got.updates(cloid(1))))
            failed = [u.status for u in got.updates(cloid(1)) if u.reason.startswith("modify: ")]
            if applied:
                assert not failed and (local.price, local.remaining) == (bid - 1, Decimal("0.02"))
            else:
                assert failed == [OrderStatus.REJECTED] and (local.price, local.remaining) == (bid, Decimal("0.01"))
            await a._audit(grace_ns=0, why="test")
            assert a.discrepancies == 0, "our record agrees with the exchange's"
            await got.stop()

    run(body())


def test_an_unreachable_exchange_is_named_with_its_address_and_the_reason() -> None:
    """What the user reads when the address is wrong: where, and why (not a bare exception class name)."""

    async def body() -> None:
        a = HyperliquidAdapter(evolve(QUIET, info_retries=0), asset=ETH, network="localhost", private_key=KEY,
                               base_url="http://127.0.0.1:9")
        try:
            with pytest.raises(TransportError, match=r"^/info meta at http://127\.0\.0\.1:9: connection refused$"):
                await a.rest.info({"type": "meta"})
            with pytest.raises(NotSent, match=r"^/exchange at http://127\.0\.0\.1:9: not sent"):
                await a.rest.exchange(b"{}", 1)
        finally:
            a.rest.close()

    run(body())


@pytest.mark.parametrize(("asset", "expected"), [
    ("eth", "'eth' is not listed by http://127.0.0.1:{port}; did you mean 'ETH'?"),
    ("BTCC", "'BTCC' is not listed by http://127.0.0.1:{port}; did you mean 'BTC'?"),
    ("XYZ", "'XYZ' is not listed by http://127.0.0.1:{port} (it lists ETH, BTC)"),
])
def test_an_asset_the_exchange_does_not_list_is_a_config_error_with_a_suggestion(asset: str, expected: str) -> None:
    async def body() -> None:
        async with exchange() as ex:
            a = HyperliquidAdapter(QUIET, asset=asset, network="localhost", private_key=KEY, base_url=ex.url)
            try:
                with pytest.raises(ConfigError) as info:
                    await a.connect()
                assert str(info.value) == "trading.asset: " + expected.format(port=ex.url.rsplit(":", 1)[1])
            finally:
                await a.close()

    run(body())


def test_missing_key_is_a_config_error_that_names_no_secret() -> None:
    from mmtool.core.components import ComponentContext
    from mmtool.core.config import NetworkConfig, Settings
    from mmtool.core.rounding import AssetRules

    settings = Settings(network=NetworkConfig(name="localhost"))
    ctx = ComponentContext(ETH, AssetRules(ETH, 4), settings)
    with pytest.raises(ConfigError, match="HYPERLIQUID_PRIVATE_KEY"):
        HyperliquidAdapter.from_config(QUIET, ctx)
    bad = "0x" + "zz" * 32
    import attrs

    with pytest.raises(ConfigError) as info:
        HyperliquidAdapter.from_config(QUIET, attrs.evolve(ctx, settings=attrs.evolve(settings, private_key=bad)))
    assert bad not in str(info.value)
    for url in ("127.0.0.1:3001", "ws://127.0.0.1:3001/ws"):
        no_scheme = attrs.evolve(settings, private_key=KEY, network=NetworkConfig(name="localhost", base_url=url))
        with pytest.raises(ConfigError, match=r"^network\.base_url: base URL must start with http:// or https://"):
            HyperliquidAdapter.from_config(QUIET, attrs.evolve(ctx, settings=no_scheme))
    good = HyperliquidAdapter.from_config(QUIET, attrs.evolve(ctx, settings=attrs.evolve(settings, private_key=KEY)))
    assert KEY[2:] not in repr(good.signer) and good.base_url == "http://localhost:3001"
    good.rest.close()


@pytest.mark.parametrize("ws_post", [True, False], ids=["websocket", "rest"])
def test_each_batch_sent_is_stamped_when_handed_to_the_socket_or_to_rest(ws_post: bool) -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex, config=evolve(QUIET, use_ws_post=ws_post)) as a:
            got = Collector(a)
            assert a.sent_stamps() == []
            before = a.clock.now_ns()
            await a.submit([Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO),
                            Cancel(cloid(7), ETH)])
            after = a.clock.now_ns()
            stamps = a.sent_stamps()
            assert len(stamps) == 2, "one stamp per batch (cancels, then places), within submit"
            assert before <= stamps[0] <= stamps[1] <= after
            a._outbound._post_only_until_ns = a.clock.now_ns() + 60 * 10**9
            await a.submit([Place(cloid(2), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.IOC)])
            assert a.sent_stamps() == [], "refused locally: nothing left, nothing stamped"
            await got.wait_for(lambda: got.updates(cloid(1)) and got.updates(cloid(7)) and got.updates(cloid(2)))
            await got.stop()

    run(body())


def _delay_posts(a: HyperliquidAdapter, delays: list[float]) -> None:
    """Hold back the next WebSocket posts (one delay each, in order) on their way to the exchange."""
    socket = a._ws._socket
    real_send = socket.send

    async def send(message, text=None):
        raw = message if isinstance(message, bytes) else message.encode()
        if b'"method":"post"' in raw and delays:
            later = delays.pop(0)
            asyncio.get_running_loop().call_later(later, lambda: asyncio.ensure_future(real_send(message, text=text)))
            return None
        return await real_send(message, text=text)

    socket.send = send


@pytest.mark.parametrize("expiry", [1.0, 0.0])
def test_a_place_whose_frame_comes_late_leaves_one_order_that_the_engine_follows(expiry: float) -> None:
    # The place's frame reaches the exchange 1.5 s late, after its answer was given up for lost (1 s); the resend
    # takes 0.8 s more. With an expiry the late original is refused (expired) and the lookup, made after the
    # expiry, resends it; without one the original rests first and the resend is refused as a duplicate cloid,
    # which the adapter follows instead of calling the order rejected.
    async def body() -> None:
        config = evolve(QUIET, post_timeout_secs=1.0, action_expiry_secs=expiry)
        async with exchange() as ex, adapter(ex, config=config) as a:
            got = Collector(a)
            _delay_posts(a, [1.5, 0.8])
            await a.submit([Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO)])
            await got.wait_for(lambda: any(u.status is OrderStatus.RESTING for u in got.updates(cloid(1))),
                               timeout=8)
            await asyncio.sleep(1.0)  # anything still on its way lands
            assert {u.status for u in got.updates(cloid(1))} == {OrderStatus.RESTING}, "never called rejected"
            assert open_cloids(ex, a.user) == {cloid(1)}
            assert len([o for o in account(ex, a.user).orders.values() if o.cloid == cloid(1)]) == 1
            assert a.orders.get(cloid(1)) is not None and a.orders.get(cloid(1)).acked
            actions = ex.journal.of_kind("action")
            assert all(("expiresAfter" in r["body"]) == (expiry > 0) for r in actions if "body" in r)
            await a.cancel_all()
            await got.stop()

    run(body())


def test_a_lost_place_that_was_cancelled_meanwhile_is_not_sent_again() -> None:
    # A place and then its cancel both die with the socket. The exchange never saw either: the cancel's lookup
    # ends the order ("never reached the exchange"), and the place's lookup, answered later, must not resend it.
    async def body() -> None:
        config = evolve(QUIET, reconnect_min_secs=0.2, reconnect_max_secs=0.5, action_expiry_secs=0.0)
        async with exchange() as ex, adapter(ex, config=config) as a:
            got = Collector(a)
            socket = a._ws._socket
            real_send, swallow = socket.send, [True]

            async def send(message, text=None):
                raw = message if isinstance(message, bytes) else message.encode()
                if swallow[0] and b'"method":"post"' in raw:
                    return None  # the frame dies with the connection
                return await real_send(message, text=text)

            socket.send = send
            real_status, calls = a._outcomes.order_status, []

            async def order_status(c):
                calls.append(c)
                if len(calls) == 1:
                    await asyncio.sleep(0.15)  # the place's lookup is answered after the cancel's
                return await real_status(c)

            a._outcomes.order_status = order_status
            await a.submit([Place(cloid(1), ETH, Side.BUY, passive_price(a, Side.BUY), Decimal("0.01"), Tif.ALO)])
            await a.submit([Cancel(cloid(1), ETH)])
            swallow[0] = False
            ex.hub.drop_all("test")
            await got.wait_for(lambda: len(got.of(Connection)) == 2, timeout=10)
            await asyncio.sleep(0.5)
            assert got.updates(cloid(1))[-1].status is OrderStatus.CANCELLED
            assert open_cloids(ex, a.user) == set(), "nothing rests that the engine thinks is gone"
            assert a.orders.get(cloid(1)) is None
            await got.stop()

    run(body())
