"""Parsing of /exchange answers and the mapping of the exchange's error texts to typed errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtool.core.errors import ExchangeError
from mmtool.plugins.exchanges.hyperliquid import errors as e
from mmtool.plugins.exchanges.hyperliquid.wire import (
    CancelResult,
    OrderResult,
    OrderResultKind,
    parse_cancel_statuses,
    parse_order_statuses,
    raise_for_status,
)


def _ok(statuses: list, kind: str = "order") -> dict:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


# Texts as the exchange sends them (documented "Error responses" table, plus texts seen in answers).
MESSAGES = [
    ("Post only order would have immediately matched, bbo was 64990@64991. asset=0", e.PostOnlyWouldCross),
    ("Only post-only orders allowed immediately after a network upgrade", e.PostOnlyModeOnly),
    ("Reduce only order would increase position. asset=3", e.ReduceOnlyRejected),
    ("Order must have minimum value of $10. asset=4", e.MinNotionalRejected),
    ("Order must have minimum value of 10 USDC.", e.MinNotionalRejected),
    ("Insufficient margin to place order. asset=1", e.InsufficientMargin),
    ("Price must be divisible by tick size. asset=0", e.InvalidPriceOrSize),
    ("Order has invalid price.", e.InvalidPriceOrSize),
    ("Order has invalid size.", e.InvalidPriceOrSize),
    (
        "Too many cumulative requests sent (97460 > 97456) for cumulative volume traded $87457.46. "
        "Place taker orders to free up 1 request per USDC traded.",
        e.RateLimited,
    ),
    ("Order was never placed, already canceled, or filled. asset=1", e.OrderNotFound),
    ("Order could not immediately match against any resting orders. asset=0", e.IocCancelled),
    ("Invalid nonce: duplicate nonce 1754922717871", e.InvalidNonce),
    ("Invalid nonce: nonce too low 1 < 2", e.InvalidNonce),
    ("User or API Wallet 0x1234 does not exist.", e.UnknownSigner),
    ("Order price too far from oracle", e.ExchangeRejected),
    ("Invalid TP/SL price.", e.ExchangeRejected),
]


@pytest.mark.parametrize(("text", "cls"), MESSAGES)
def test_error_texts_map_to_typed_errors(text: str, cls: type) -> None:
    assert e.classify_error(text) is cls
    err = e.error_from_message(text)
    assert type(err) is cls and err.message == text and str(err) == text
    assert isinstance(err, e.ExchangeRejected) and isinstance(err, ExchangeError)


def test_whole_request_error_raises_typed_error() -> None:
    answer = {"status": "err", "response": "Invalid nonce: duplicate nonce 1700000000000"}
    with pytest.raises(e.InvalidNonce, match="duplicate nonce"):
        parse_order_statuses(answer)
    with pytest.raises(e.InvalidNonce):
        raise_for_status(answer)


def test_order_statuses_parse_in_order() -> None:
    cloid = "0x" + "ab" * 16
    answer = _ok(
        [
            {"resting": {"oid": 77738308, "cloid": cloid}},
            {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314}},
            {"error": "Post only order would have immediately matched, bbo was 1.0@1.1. asset=0"},
            "waitingForTrigger",
        ]
    )
    results = parse_order_statuses(answer, expected=4)
    assert results[0] == OrderResult(OrderResultKind.RESTING, oid=77738308, cloid=cloid)
    assert results[1] == OrderResult(
        OrderResultKind.FILLED, oid=77747314, total_sz=Decimal("0.02"), avg_px=Decimal("1891.4")
    )
    assert results[2].kind is OrderResultKind.ERROR and isinstance(results[2].rejection, e.PostOnlyWouldCross)
    assert results[3].kind is OrderResultKind.WAITING
    assert results[0].rejection is None


def test_single_pre_validation_error_applies_to_whole_batch() -> None:
    results = parse_order_statuses(_ok([{"error": "Order has invalid price."}]), expected=3)
    assert len(results) == 3 and all(isinstance(r.rejection, e.InvalidPriceOrSize) for r in results)
    with pytest.raises(e.MalformedResponse, match="expected 3 statuses, got 2"):
        parse_order_statuses(_ok([{"resting": {"oid": 1}}, {"resting": {"oid": 2}}]), expected=3)


def test_cancel_statuses() -> None:
    answer = _ok(["success", {"error": "Order was never placed, already canceled, or filled. asset=1"}], "cancel")
    ok, missing = parse_cancel_statuses(answer, expected=2)
    assert ok == CancelResult(ok=True) and ok.rejection is None
    assert not missing.ok and isinstance(missing.rejection, e.OrderNotFound)


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"status": "weird"},
        {"status": "ok", "response": "nope"},
        {"status": "ok", "response": {"type": "order"}},
        _ok([{"resting": {"oid": "12"}}]),
        _ok([{"resting": {"oid": True}}]),
        _ok([{"filled": {"totalSz": "x", "avgPx": "1", "oid": 1}}]),
        _ok([{"filled": {"totalSz": 0.5, "avgPx": "1", "oid": 1}}]),
        _ok([{"somethingElse": {}}]),
        _ok(["success"]),
    ],
)
def test_malformed_order_answers(answer) -> None:
    with pytest.raises(e.MalformedResponse):
        parse_order_statuses(answer)


def test_malformed_cancel_answer() -> None:
    with pytest.raises(e.MalformedResponse):
        parse_cancel_statuses(_ok([{"resting": {"oid": 1}}]))
