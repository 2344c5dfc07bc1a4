"""The backtest report: one self-contained HTML page with the summary and plots embedded as base64 PNG images.

Plots (matplotlib, Agg backend): PnL split over time, inventory against its limit, mid with our best quotes and
fills, markout curve by horizon, and the spread with the estimators' sigma and kappa over time.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from mmtool.backtest.loop import BacktestResult
    from mmtool.backtest.metrics import Markout
    from mmtool.backtest.series import Series

FIG_SIZE = (11.0, 4.0)
DPI = 90


def _minutes(series: Series) -> list[float]:
    return [t / 60.0 for t in series.column("t_s")]


def png_data_uri(fig: Figure) -> str:
    """Render a figure as a ``data:image/png;base64,...`` URI and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_pnl(series: Series) -> Figure:
    """Total PnL and its parts (realized, unrealized, fees paid as a negative, funding) over time."""
    fig, ax = plt.subplots(figsize=FIG_SIZE)
    t = _minutes(series)
    ax.plot(t, series.column("total"), label="total", color="black", linewidth=1.6)
    ax.plot(t, series.column("realized"), label="realized", linewidth=0.9)
    ax.plot(t, series.column("unrealized"), label="unrealized", linewidth=0.9)
    ax.plot(t, [-f for f in series.column("fees")], label="-fees", linewidth=0.9)
    ax.plot(t, series.column("funding"), label="funding", linewidth=0.9)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set(title="PnL split", xlabel="minutes", ylabel="USD")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_inventory(series: Series, limit: float) -> Figure:
    """Position over time with the position limit."""
    fig, ax = plt.subplots(figsize=FIG_SIZE)
    t = _minutes(series)
    ax.step(t, series.column("position"), where="post", color="tab:blue", linewidth=1.0, label="position")
    for bound in (limit, -limit):
        ax.axhline(bound, color="tab:red", linestyle="--", linewidth=0.8)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set(title="Inventory (dashed: position limit)", xlabel="minutes", ylabel="asset units")
    return fig


def plot_quotes(series: Series) -> Figure:
    """Mid, our best bid and ask, and our fills (triangles up: buys, down: sells)."""
    fig, ax = plt.subplots(figsize=FIG_SIZE)
    t = _minutes(series)
    ax.plot(t, series.column("mid"), color="black", linewidth=0.9, label="mid")
    ax.plot(t, series.column("our_bid"), color="tab:green", linewidth=0.6, alpha=0.8, label="our best bid")
    ax.plot(t, series.column("our_ask"), color="tab:red", linewidth=0.6, alpha=0.8, label="our best ask")
    buys = [(ts / 60.0, p) for ts, p, s in series.fills if s > 0]
    sells = [(ts / 60.0, p) for ts, p, s in series.fills if s < 0]
    if buys:
        ax.scatter(*zip(*buys, strict=True), marker="^", s=14, color="tab:green", label="buy fills", zorder=3)
    if sells:
        ax.scatter(*zip(*sells, strict=True), marker="v", s=14, color="tab:red", label="sell fills", zorder=3)
    title = "Mid, our quotes and fills"
    if series.fills_dropped:
        title += f" (first {len(series.fills)} fills shown)"
    ax.set(title=title, xlabel="minutes", ylabel="price")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_markouts(curve: list[Markout]) -> Figure:
    """Mean markout in bps (and USD sum) by horizon."""
    fig, ax = plt.subplots(figsize=FIG_SIZE)
    points = [(m.horizon_s, m.mean_bps, m.usd) for m in curve if m.mean_bps is not None]
    if points:
        horizons, bps, usd = zip(*points, strict=True)
        ax.plot(horizons, bps, marker="o", color="tab:blue", label="mean markout (bps)")
        ax.set_xscale("symlog", linthresh=1.0)
        twin = ax.twinx()
        twin.plot(horizons, usd, marker="s", color="tab:orange", linewidth=0.8, label="sum (USD)")
        twin.set_ylabel("sum of markouts (USD, squares)")
    else:
        ax.text(0.5, 0.5, "no fills", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set(title="Markouts by horizon (positive: the fill made money)", xlabel="horizon (s)",
           ylabel="mean markout (bps, circles)")
    return fig


def plot_market(series: Series) -> Figure:
    """The market spread and our quoted spread (bps), sigma (bps per sqrt second) and kappa over time."""
    fig, axes = plt.subplots(3, 1, figsize=(FIG_SIZE[0], 7.5), sharex=True)
    t = _minutes(series)
    mids = series.column("mid")

    def bps(low: str, high: str) -> list[float]:
        return [(h - lo) / m * 1e4 if m and not math.isnan(m) else math.nan
                for lo, h, m in zip(series.column(low), series.column(high), mids, strict=True)]

    axes[0].plot(t, bps("best_bid", "best_ask"), linewidth=0.7, label="market spread")
    axes[0].plot(t, bps("our_bid", "our_ask"), linewidth=0.7, label="our spread")
    axes[0].set(ylabel="bps", title="Spread, sigma and kappa")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[1].plot(t, [s * 1e4 for s in series.column("sigma")], color="tab:purple", linewidth=0.9)
    axes[1].set(ylabel="sigma (bps/sqrt s)")
    axes[2].plot(t, series.column("kappa"), color="tab:brown", linewidth=0.9)
    axes[2].set(ylabel="kappa", xlabel="minutes")
    return fig


def _flatten(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flatten(value, name + ".")
        else:
            rows.append((name, value))
    return rows


def render_report(result: BacktestResult, title: str = "mmtool backtest") -> str:
    """The report page as HTML text."""
    series = result.series
    limit = result.engine.settings.trading.max_absolute_position_size
    plots: list[tuple[str, Callable[[], Figure]]] = [
        ("PnL split over time", lambda: plot_pnl(series)),
        ("Inventory", lambda: plot_inventory(series, limit)),
        ("Mid, our quotes and fills", lambda: plot_quotes(series)),
        ("Markout curve", lambda: plot_markouts(result.markout_curve)),
        ("Spread, sigma and kappa", lambda: plot_market(series)),
    ]
    rows = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in _flatten(result.summary)
    )
    figures = "\n".join(
        f'<h2>{html.escape(name)}</h2>\n<img alt="{html.escape(name)}" src="{png_data_uri(make())}">'
        for name, make in plots
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;font-size:90%}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "img{max-width:100%}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<h2>Summary</h2>\n<table>\n{rows}\n</table>\n{figures}\n</body>\n</html>\n"
    )
