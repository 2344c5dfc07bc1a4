"""The /metrics endpoint during and after a simulated session: names, labels and values against the summary."""

from __future__ import annotations

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mmtool.core.config_loader import load_settings
from mmtool.core.errors import ConfigError
from mmtool.core.plugins import load_registry
from mmtool.observe.metrics import METRIC_NAMES, MetricsServer, check_bind
from mmtool.observe.wiring import build_observation

from .conftest import Observed


def samples(text: str) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value} from a Prometheus exposition."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(text: str, name: str) -> float:
    return samples(text)[name][(("asset", "ETH"),)]


def test_every_metric_is_served_with_the_asset_label(observed: Observed) -> None:
    found = samples(observed.metrics_text)
    seed_design = ["mm_position", "mm_max_position", "mm_inventory_utilization", "mm_daily_pnl", "mm_realized_pnl",
                   "mm_unrealized_pnl", "mm_drawdown_pct", "mm_mid_price", "mm_spread_bps", "mm_sigma", "mm_kappa",
                   "mm_jump_ratio", "mm_kill_switch_triggered", "mm_cascade_severity", "mm_adverse_selection_bps",
                   "mm_tail_risk_multiplier"]
    assert set(seed_design) <= set(METRIC_NAMES)
    for name in METRIC_NAMES:
        key = f"{name}_count" if name.endswith("_seconds") else name
        assert key in found, name
        assert all(dict(labels).get("asset") == "ETH" for labels in found[key]), name


def test_values_agree_with_the_summary(observed: Observed) -> None:
    text, summary = observed.metrics_text, observed.summary
    assert summary["fills"] > 5
    for metric, key in [("mm_fills_total", "fills"), ("mm_orders_placed_total", "orders_placed"),
                        ("mm_orders_modified_total", "orders_modified"),
                        ("mm_orders_cancelled_total", "orders_cancelled"),
                        ("mm_orders_rejected_total", "orders_rejected"), ("mm_events_total", "events_processed"),
                        ("mm_bad_messages_total", "bad_events")]:
        assert value(text, metric) == summary[key], metric
    assert value(text, "mm_position") == pytest.approx(summary["position"])
    assert value(text, "mm_realized_pnl") == pytest.approx(summary["realized_pnl"], abs=1e-6)
    assert value(text, "mm_total_pnl") == pytest.approx(summary["total_pnl"], abs=1e-6)
    assert value(text, "mm_max_position") == summary["position_limit"]
    parts = sum(value(text, f"mm_pnl_{c}") for c in ("spread_capture", "adverse_selection", "inventory", "fees",
                                                      "funding"))
    assert parts == pytest.approx(summary["total_pnl"], abs=1e-6)
    assert value(text, "mm_pnl_fees") == pytest.approx(-summary["fees"], abs=1e-9)
    assert value(text, "mm_kill_switch_triggered") == (1.0 if summary["kill_switch_events"] else 0.0)
    assert 0 < value(text, "mm_sigma") < 0.01
    assert value(text, "mm_kappa") > 0
    assert value(text, "mm_mid_price") == pytest.approx(float(observed.engine.portfolio.mark_price))
    # Every event handled was timed into the histogram.
    assert value(text, "mm_decision_latency_seconds_count") == summary["events_processed"]
    # The order path is a wall-clock figure: nothing is binned on the simulator.
    assert value(text, "mm_order_path_seconds_count") == 0 == summary["order_path_count"]


def test_scraped_during_the_run(observed: Observed) -> None:
    mid_run = observed.scraper.mid_run
    assert mid_run is not None
    assert value(mid_run, "mm_fills_total") == observed.scraper.fills_then
    assert 0 < value(mid_run, "mm_events_total") < observed.summary["events_processed"]


def test_public_bind_is_refused_unless_allowed(tmp_path) -> None:
    for address in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ConfigError, match="allow_public_bind"):
            check_bind(address, allow_public=False)
        check_bind(address, allow_public=True)
    for address in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        check_bind(address, allow_public=False)
    with pytest.raises(ConfigError, match="not a loopback"):
        MetricsServer(None, 0, "0.0.0.0")  # refused before anything binds
    settings = load_settings(None, overrides={"monitoring.metrics_port": 9, "monitoring.bind": "10.1.2.3"}, env={})
    with pytest.raises(ConfigError, match="monitoring.bind"):
        build_observation(settings, load_registry(), live_status=False)


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        from prometheus_client import CollectorRegistry

        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(CollectorRegistry(), port)


def test_grafana_dashboard_uses_only_served_metrics() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m.removesuffix("_bucket") for e in exprs for m in re.findall(r"\bmm_[a-z_]+", e)}
    assert used <= set(METRIC_NAMES), used - set(METRIC_NAMES)
    for needed in ("mm_position", "mm_total_pnl", "mm_spread_bps", "mm_sigma", "mm_kappa", "mm_kill_switch_triggered"):
        assert needed in used
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["schemaVersion"] >= 30
