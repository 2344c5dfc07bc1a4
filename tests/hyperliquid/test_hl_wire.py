"""Our wire builders against the official SDK: same dicts, same key order, same msgpack bytes, same signatures."""

from __future__ import annotations

from decimal import Decimal

import msgpack
import pytest
from hl_sdk_ref import COINS, KEY, SdkExchange
from hyperliquid.utils import signing as sdk
from hyperliquid.utils.types import Cloid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmtool.core.errors import RoundingError
from mmtool.core.rounding import to_wire
from mmtool.core.types import Tif
from mmtool.plugins.exchanges.hyperliquid import wire as w
from mmtool.plugins.exchanges.hyperliquid.signing import Signer

NONCE = 1_700_000_000_000
SIGNER = Signer(KEY)
VAULT = "0x" + "ab" * 20


@pytest.fixture
def sdk_ref(monkeypatch: pytest.MonkeyPatch) -> SdkExchange:
    """The official SDK's Exchange, offline, recording what it would post (re-pinned by every ``build``)."""
    return SdkExchange(monkeypatch)


def _same(ours: object, theirs: object) -> None:
    """Equal as values, equal in every dict's key order, and equal as msgpack bytes (what is hashed)."""
    assert ours == theirs
    assert msgpack.packb(ours) == msgpack.packb(theirs)


decimals_px = st.builds(lambda m, e: Decimal(m).scaleb(-e), st.integers(1, 99_999), st.integers(0, 6))
# Sizes below 1e7: above that the SDK's float formatting adds noise ("90413006.90000001"); ours stays exact.
decimals_sz = st.integers(0, 5).flatmap(
    lambda e: st.integers(1, 10 ** (7 + e) - 1).map(lambda m: Decimal(m).scaleb(-e))
)
cloids = st.one_of(st.none(), st.binary(min_size=16, max_size=16).map(lambda b: "0x" + b.hex()))


def _sdk_order(coin: str, is_buy: bool, px: Decimal, sz: Decimal, reduce_only: bool, tif: Tif, cloid: str | None):
    request = {
        "coin": coin,
        "is_buy": is_buy,
        "sz": float(sz),
        "limit_px": float(px),
        "order_type": {"limit": {"tif": tif.value}},
        "reduce_only": reduce_only,
    }
    if cloid is not None:
        request["cloid"] = Cloid(cloid)
    return request


# Every ``build`` re-pins the SDK, so sharing the function-scoped fixture across examples is safe.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(
        st.tuples(
            st.integers(0, 3), st.booleans(), decimals_px, decimals_sz, st.booleans(), st.sampled_from(Tif), cloids
        ),
        min_size=1,
        max_size=5,
    ),
    vault=st.sampled_from([None, VAULT]),
    expires_after=st.sampled_from([None, NONCE + 10_000]),
    mainnet=st.booleans(),
)
def test_bulk_orders_equal_sdk(sdk_ref, orders, vault, expires_after, mainnet) -> None:
    ex = sdk_ref.build(mainnet=mainnet, nonce=NONCE, vault=vault, expires_after=expires_after)
    sdk_action, sdk_sig, sdk_nonce = ex.bulk_orders([_sdk_order(COINS[a], *rest) for a, *rest in orders])
    action = w.order_action([w.order_wire(*o) for o in orders])
    _same(action, sdk_action)
    assert SIGNER.sign_l1_action(action, vault, NONCE, expires_after, mainnet) == sdk_sig
    assert sdk_nonce == NONCE


def test_order_with_builder_and_grouping_equals_sdk(sdk_ref) -> None:
    ex = sdk_ref.build(mainnet=True, nonce=NONCE)
    builder_address = "0x" + "Ab" * 20
    sdk_action, sdk_sig, _ = ex.bulk_orders(
        [_sdk_order("ETH", True, Decimal("2500.1"), Decimal("0.5"), False, Tif.GTC, None)],
        builder={"b": builder_address, "f": 10},
        grouping="normalTpsl",
    )
    ours = w.order_action(
        [w.order_wire(1, True, Decimal("2500.1"), Decimal("0.5"), False, Tif.GTC)],
        grouping="normalTpsl",
        builder=w.Builder(builder_address, 10),
    )
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, None, NONCE, None, True) == sdk_sig


@pytest.mark.parametrize("tpsl", ["tp", "sl"])
@pytest.mark.parametrize("is_market", [True, False])
def test_trigger_order_wire_equals_sdk(tpsl: str, is_market: bool) -> None:
    request = {
        "coin": "BTC",
        "is_buy": False,
        "sz": 0.001,
        "limit_px": 59000.0,
        "order_type": {"trigger": {"triggerPx": 59500.0, "isMarket": is_market, "tpsl": tpsl}},
        "reduce_only": True,
    }
    trigger = w.Trigger(Decimal("59500"), is_market, tpsl)  # type: ignore[arg-type]
    ours = w.order_wire(0, False, Decimal("59000"), Decimal("0.001"), True, trigger)
    _same(ours, sdk.order_request_to_order_wire(request, 0))


def test_cancels_equal_sdk(sdk_ref) -> None:
    ex = sdk_ref.build(mainnet=False, nonce=NONCE, vault=VAULT)
    sdk_action, sdk_sig, _ = ex.bulk_cancel([{"coin": "ETH", "oid": 12345}, {"coin": "DOGE", "oid": 2**40}])
    ours = w.cancel_action([(1, 12345), (3, 2**40)])
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, VAULT, NONCE, None, False) == sdk_sig

    cloid = "0x" + "fe" * 16
    sdk_action, sdk_sig, _ = ex.bulk_cancel_by_cloid([{"coin": "SOL", "cloid": Cloid(cloid)}])
    ours = w.cancel_by_cloid_action([(2, cloid)])
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, VAULT, NONCE, None, False) == sdk_sig


@pytest.mark.parametrize("oid", [987654321, "0x" + "0a" * 16])
def test_batch_modify_equals_sdk(sdk_ref, oid) -> None:
    ex = sdk_ref.build(mainnet=True, nonce=NONCE, expires_after=NONCE + 1)
    cloid = "0x" + "11" * 16
    sdk_oid = Cloid(oid) if isinstance(oid, str) else oid
    sdk_action, sdk_sig, _ = ex.modify_order(
        sdk_oid, "BTC", True, 0.01, 61000.0, {"limit": {"tif": "Alo"}}, False, Cloid(cloid)
    )
    order = w.order_wire(0, True, Decimal("61000"), Decimal("0.01"), False, Tif.ALO, cloid)
    ours = w.batch_modify_action([(oid, order)])
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, None, NONCE, NONCE + 1, True) == sdk_sig


def test_single_modify_has_the_documented_shape() -> None:
    """The SDK only sends batchModify now; ``modify`` follows the exchange docs: type, oid, order, in that order."""
    order = w.order_wire(0, True, Decimal("61000"), Decimal("0.01"), False, Tif.ALO)
    action = w.modify_action(42, order)
    assert list(action) == ["type", "oid", "order"] and action["order"] == order
    assert msgpack.packb(action) == msgpack.packb({"type": "modify", "oid": 42, "order": order})


@pytest.mark.parametrize("time_ms", [None, NONCE + 10_000])
def test_schedule_cancel_equals_sdk(sdk_ref, time_ms) -> None:
    ex = sdk_ref.build(mainnet=True, nonce=NONCE)
    sdk_action, sdk_sig, _ = ex.schedule_cancel(time_ms)
    ours = w.schedule_cancel_action(time_ms)
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, None, NONCE, None, True) == sdk_sig


@pytest.mark.parametrize("is_cross", [True, False])
def test_update_leverage_equals_sdk(sdk_ref, is_cross) -> None:
    ex = sdk_ref.build(mainnet=False, nonce=NONCE)
    sdk_action, sdk_sig, _ = ex.update_leverage(7, "SOL", is_cross)
    ours = w.update_leverage_action(2, is_cross, 7)
    _same(ours, sdk_action)
    assert SIGNER.sign_l1_action(ours, None, NONCE, None, False) == sdk_sig


def test_approve_agent_equals_sdk_exchange(sdk_ref, monkeypatch) -> None:
    from hyperliquid import exchange as sdk_exchange

    from mmtool.plugins.exchanges.hyperliquid.signing import APPROVE_AGENT_PRIMARY_TYPE, APPROVE_AGENT_TYPES

    monkeypatch.setattr(sdk_exchange.secrets, "token_hex", lambda n: "77" * n)
    ex = sdk_ref.build(mainnet=True, nonce=NONCE)
    (sdk_action, sdk_sig, _), agent_key = ex.approve_agent("bot")
    agent_address = Signer(agent_key).address
    ours = w.approve_agent_action(agent_address, "bot", NONCE, True)
    assert ours == sdk_action
    assert SIGNER.sign_user_action(ours, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, True) == sdk_sig


# --------------------------------------------------------------------------------------------- numbers


# Within 15 significant digits, where a float (the SDK's input) still holds the decimal exactly.
@given(st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=8, allow_nan=False))
def test_to_wire_equals_sdk_float_to_wire(value: Decimal) -> None:
    if value == 0:
        assert to_wire(value) == "0"  # the SDK writes "-0" for a negative zero; the docs say "0"
        return
    assert to_wire(value) == sdk.float_to_wire(float(value))


def test_large_sizes_stay_exact() -> None:
    """Decimals avoid the float noise the SDK shows for large values with decimals."""
    assert sdk.float_to_wire(90413006.9) == "90413006.90000001"
    assert w.order_wire(0, True, Decimal(1), Decimal("90413006.9"), False, Tif.ALO)["s"] == "90413006.9"


def test_to_wire_refuses_silent_rounding() -> None:
    with pytest.raises(RoundingError):
        w.order_wire(0, True, Decimal("1.000000001"), Decimal("1"), False, Tif.ALO)


def test_builders_validate_inputs() -> None:
    with pytest.raises(ValueError, match="cloid"):
        w.order_wire(0, True, Decimal(1), Decimal(1), False, Tif.ALO, "0x" + "AB" * 16)
    with pytest.raises(ValueError, match="cloid"):
        w.cancel_by_cloid_action([(0, "0x12")])
    with pytest.raises(ValueError, match="grouping"):
        w.order_action([], grouping="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leverage"):
        w.update_leverage_action(0, True, 0)
    with pytest.raises(ValueError, match="tpsl"):
        w.Trigger(Decimal(1), True, "xx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="20 bytes"):
        w.Builder("0x12", 1)
    with pytest.raises(ValueError):
        w.order_wire(0, True, Decimal(1), Decimal(1), False, "Fok")
    assert w.order_wire(0, True, Decimal(1), Decimal(1), False, "Ioc")["t"] == {"limit": {"tif": "Ioc"}}


def test_exchange_request_body() -> None:
    sig = {"r": "0x1", "s": "0x2", "v": 27}
    assert w.exchange_request({"type": "noop"}, 5, sig) == {
        "action": {"type": "noop"},
        "nonce": 5,
        "signature": sig,
        "vaultAddress": None,
    }
    assert w.exchange_request({"type": "noop"}, 5, sig, VAULT, 9)["expiresAfter"] == 9
