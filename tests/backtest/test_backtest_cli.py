"""``mmtool backtest`` end to end on the synthetic market: determinism, summary keys and the HTML report."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from mmtool.cli import main
from mmtool.core.summary import SUMMARY_KEYS

BACKTEST_KEYS = ("sharpe", "max_drawdown", "fill_ratio", "markouts", "inventory", "sample_interval_s", "data",
                 "order_latency_ms", "market_data_latency_ms")


def backtest(out: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["backtest", "--strategy", "glft-ladder", "--synthetic", "--out", str(out),
                                       *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.headings = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")
        if tag == "h2":
            self.headings += 1


def test_same_seed_gives_a_byte_identical_summary_and_another_seed_does_not(tmp_path):
    a = backtest(tmp_path / "a", "--seed", "3", "--duration", "125", "--no-report")
    b = backtest(tmp_path / "b", "--seed", "3", "--duration", "125", "--no-report")
    c = backtest(tmp_path / "c", "--seed", "4", "--duration", "125", "--no-report")
    text = (a / "summary.json").read_bytes()
    assert text == (b / "summary.json").read_bytes()
    assert text != (c / "summary.json").read_bytes()
    summary = json.loads(text)
    assert tuple(summary)[: len(SUMMARY_KEYS)] == SUMMARY_KEYS
    assert tuple(summary)[len(SUMMARY_KEYS):] == BACKTEST_KEYS
    assert summary["fills"] > 0 and summary["open_orders_at_exit"] == 0
    assert summary["position"] == summary["exchange_position"]
    assert summary["fill_ratio"] == round(summary["fills"] / summary["orders_placed"], 6)
    assert set(summary["markouts"]) == {"1s", "5s", "30s"}
    assert summary["sharpe"] is not None, "two whole minutes give a Sharpe ratio"
    assert summary["inventory"]["max_abs"] == summary["max_abs_position"]


def test_latency_flag_reaches_the_summary_and_changes_the_run(tmp_path):
    fast = json.loads((backtest(tmp_path / "f", "--seed", "3", "--duration", "60", "--no-report",
                                "--latency-ms", "5") / "summary.json").read_text())
    slow = json.loads((backtest(tmp_path / "s", "--seed", "3", "--duration", "60", "--no-report",
                                "--latency-ms", "400") / "summary.json").read_text())
    assert (fast["order_latency_ms"], slow["order_latency_ms"]) == (5.0, 400.0)
    assert fast != slow


def test_report_html_parses_and_embeds_its_png_plots(tmp_path):
    out = backtest(tmp_path / "r", "--seed", "2", "--duration", "90")
    parser = _Images()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(parser.sources) == 5
    for src in parser.sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert parser.headings == 6  # the summary and one per plot


def test_a_synthetic_backtest_needs_a_duration_and_one_market_source(tmp_path):
    runner = CliRunner()
    no_duration = runner.invoke(main, ["backtest", "--synthetic"])
    assert no_duration.exit_code == 2 and "--duration" in no_duration.output
    both = runner.invoke(main, ["backtest", "--synthetic", "--data", str(tmp_path), "--duration", "5"])
    assert both.exit_code == 2 and "exactly one" in both.output
