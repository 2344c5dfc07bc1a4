"""The plugin example in docs/strategies.md runs and quotes as described."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from mmtool.core.components import Strategy
from mmtool.plugins.strategies.glft import Glft

from ._build import assert_valid, make_ctx

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"


def _example_namespace() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace


def test_documented_plugin_quotes():
    ns = _example_namespace()
    cls = ns["VolSpread"]
    assert ns["mmtool_register_strategies"]() == [cls]
    strategy = cls(cls.Config(k=2.0, horizon_secs=25.0, include_maker_fee=False))
    assert isinstance(strategy, Strategy)
    ctx = make_ctx(best_bid=None, best_ask=None)
    ladder = strategy.quote(ctx)
    # 2 · 1e-4 · 5 = 10 bps around 3000: 2997 and 3003
    assert (ladder.bids[0].price, ladder.asks[0].price) == (Decimal("2997"), Decimal("3003"))
    assert_valid(ladder, ctx)


def test_documented_default_numbers_match_the_strategy():
    text = DOC.read_text()
    glft = Glft(Glft.Config())
    flat = glft.plan(make_ctx(fee_bps=1.5))
    half_long = glft.plan(make_ctx(position=1.0, fee_bps=1.5))
    full_long = glft.plan(make_ctx(position=2.0, fee_bps=1.5))
    numbers = (
        flat.model_half_spread_bps,
        flat.half_spread_bps,
        half_long.skew_bps,
        half_long.bid_depth_bps,
        half_long.ask_depth_bps,
        full_long.skew_bps,
        full_long.ask_depth_bps,
    )
    for number in numbers:
        assert f"{number:.3f}" in text
