"""Prometheus metrics of one session, on a per-session ``CollectorRegistry``, served over HTTP on loopback.

Every metric carries the ``asset`` label. Per event the observer only bins the decision latency and counts
the event (and, on a live exchange, bins the order path of each batch sent); gauges and counters are refreshed
every ``refresh_events`` events and at each status interval, counters from deltas of the engine's own
statistics. The metric names are listed in ``METRIC_NAMES`` and
documented in ``docs/observability.md``.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from mmtool.core.errors import ConfigError
from mmtool.core.runner import RunObserver
from mmtool.core.types import RiskLevel

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.engine import Engine
    from mmtool.core.runner import RunResult
    from mmtool.core.types import Action, Event
    from mmtool.observe.hub import ObserveHub
    from mmtool.observe.pnl_attribution import PnlAttribution

log = logging.getLogger("mmtool.metrics")

#: Gauges (name -> help); every one is labelled by ``asset``.
GAUGES: dict[str, str] = {
    "mm_position": "Signed position, units of the asset",
    "mm_max_position": "Position limit, units of the asset",
    "mm_inventory_utilization": "abs(position) / position limit (0..1)",
    "mm_daily_pnl": "PnL since the start of the UTC day, USD",
    "mm_realized_pnl": "Realized PnL before fees and funding, USD",
    "mm_unrealized_pnl": "Unrealized PnL of the open position at the mid, USD",
    "mm_total_pnl": "Session PnL: realized + unrealized - fees + funding, USD",
    "mm_drawdown_pct": "Drop of the session PnL from its peak, percent of capital",
    "mm_mid_price": "Mid price",
    "mm_spread_bps": "Market bid-ask spread, bps of the mid",
    "mm_quoted_spread_bps": "Our innermost ask minus bid, bps of the mid (0 when not quoting both sides)",
    "mm_sigma": "Volatility estimate sigma (per sqrt second)",
    "mm_kappa": "Order-arrival decay kappa",
    "mm_jump_ratio": "Share of realized variance that is diffusive (bipower / realized variance)",
    "mm_kill_switch_triggered": "1 once the kill switch fired",
    "mm_risk_level": "Aggregate risk verdict: 0 ok, 1 warn, 2 pause, 3 reduce-only, 4 kill",
    "mm_cascade_severity": "Liquidation-cascade severity (0..1)",
    "mm_adverse_selection_bps": "Adverse selection estimated from markouts, bps",
    "mm_tail_risk_multiplier": "Current quoted half-spread / its calm baseline (1 = calm)",
    "mm_open_orders": "Orders live (resting or in flight)",
    "mm_pnl_spread_capture": "PnL attribution: spread captured against the mid at each fill, USD",
    "mm_pnl_adverse_selection": "PnL attribution: mid move over the markout horizon after each fill, USD",
    "mm_pnl_inventory": "PnL attribution: later mark-to-market of the inventory, USD",
    "mm_pnl_fees": "PnL attribution: minus fees paid (rebates positive), USD",
    "mm_pnl_funding": "PnL attribution: funding received, USD",
}
#: Counters (name without ``_total`` -> help).
COUNTERS: dict[str, str] = {
    "mm_events": "Events handled by the engine",
    "mm_orders_placed": "Orders placed",
    "mm_orders_modified": "Orders modified",
    "mm_orders_cancelled": "Cancels sent",
    "mm_orders_rejected": "Orders the exchange rejected",
    "mm_pretrade_rejects": "Actions refused by the pre-trade checks",
    "mm_crossing_held": "Post-only quotes held back at a price the exchange had just refused as crossing",
    "mm_fills": "Fills (deduplicated by trade id)",
    "mm_duplicate_fills": "Fills ignored as already seen",
    "mm_reconnects": "Reconnections to the exchange",
    "mm_rate_limit_errors": "Rate-limit errors from the exchange",
    "mm_bad_messages": "Malformed events or messages skipped",
    "mm_reconciliation_discrepancies": "Disagreements between our records and the exchange's",
    "mm_component_errors": "Exceptions raised by strategies, estimators or risk monitors",
    "mm_journal_errors": "Journal writes that failed",
    "mm_alerts_sent": "Alerts delivered to a sink",
    "mm_alerts_failed": "Alert deliveries that failed",
    "mm_alerts_dropped": "Alerts dropped because the queue was full",
}
HISTOGRAM = "mm_decision_latency_seconds"
#: Event received -> signed batch handed to the socket (live exchanges only).
ORDER_PATH_HISTOGRAM = "mm_order_path_seconds"
METRIC_NAMES: tuple[str, ...] = (*GAUGES, *(f"{name}_total" for name in COUNTERS), HISTOGRAM, ORDER_PATH_HISTOGRAM)
#: Upper bounds of the decision-latency buckets, seconds.
LATENCY_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2)
#: Upper bounds of the order-path buckets, seconds: 50 µs .. 50 ms, with the 300 µs target as a bound.
ORDER_PATH_BUCKETS = (5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2)
#: A quote counts as calm (for the tail-risk baseline) below this cascade severity and without a jump.
CALM_SEVERITY = 0.1


def check_bind(address: str, allow_public: bool) -> None:
    """Refuse a non-loopback address unless ``allow_public`` (the endpoint has no authentication)."""
    if allow_public:
        return
    if address == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"monitoring.bind: {address!r} is not a loopback address; the metrics endpoint has no authentication, "
            "so set monitoring.allow_public_bind = true to expose it"
        )


class MetricsServer:
    """The HTTP endpoint serving one registry at ``/metrics``; ``port`` is the bound port (useful with 0)."""

    def __init__(self, registry: CollectorRegistry, port: int, address: str = "127.0.0.1",
                 *, allow_public: bool = False) -> None:
        check_bind(address, allow_public)
        try:
            self._httpd, self._thread = start_http_server(port, addr=address, registry=registry)
        except OSError as exc:
            raise ConfigError(f"monitoring.metrics_port: cannot serve metrics on {address}:{port}: {exc}") from exc
        self.address = address
        self.port: int = self._httpd.server_address[1]

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(1.0)


class LatencyHistogram(Collector):
    """A latency binned by the trading thread (decision latency by default); scrapes read the last refresh."""

    def __init__(
        self,
        asset: str,
        name: str = HISTOGRAM,
        help_text: str = "Time the engine took to decide on one event",
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.asset = asset
        self.name = name
        self.help_text = help_text
        self.buckets = tuple(buckets)
        self._bounds_ns = [round(b * 1e9) for b in self.buckets]
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum_ns = 0
        self._snapshot: tuple[list[int], int] = (list(self._counts), 0)
        self._lock = threading.Lock()

    def observe_ns(self, latency_ns: int) -> None:
        """Bin one latency (trading thread only)."""
        self._counts[bisect.bisect_left(self._bounds_ns, latency_ns)] += 1
        self._sum_ns += latency_ns

    def publish(self) -> None:
        """Make the current counts visible to scrapes."""
        snapshot = (list(self._counts), self._sum_ns)
        with self._lock:
            self._snapshot = snapshot

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram as of the last :meth:`publish`."""
        with self._lock:
            counts, sum_ns = self._snapshot
        family = HistogramMetricFamily(self.name, self.help_text, labels=["asset"])
        cumulative, buckets = 0, []
        for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
        family.add_metric([self.asset], buckets, sum_ns / 1e9)
        yield family


class MetricsObserver(RunObserver):
    """Keeps the session's metrics current; see the module docstring for the per-event cost."""

    name = "metrics"
    #: Watches only: told about each event after its actions were submitted, off the order path.
    before_send = False

    def __init__(
        self,
        asset: str,
        hub: ObserveHub,
        attribution: PnlAttribution | None = None,
        *,
        refresh_events: int = 256,
        sources: Sequence[type] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.asset = asset
        self.hub = hub
        self.attribution = attribution
        self.refresh_events = max(1, refresh_events)
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.gauges = {name: Gauge(name, text, ["asset"], registry=self.registry).labels(asset)
                       for name, text in GAUGES.items()}
        self.counters = {name: Counter(name, text, ["asset"], registry=self.registry).labels(asset)
                         for name, text in COUNTERS.items()}
        self.latency = LatencyHistogram(asset)
        self.registry.register(self.latency)
        self.order_path = LatencyHistogram(
            asset, ORDER_PATH_HISTOGRAM,
            "Time from an event's receipt to a signed batch it caused being handed to the socket (live only)",
            ORDER_PATH_BUCKETS,
        )
        self.registry.register(self.order_path)
        self._seen: dict[str, float] = dict.fromkeys(COUNTERS, 0.0)
        self._countdown = self.refresh_events
        self._calm_half_spread: float | None = None
        self.source_errors = 0
        self.sources: list[Any] = []
        for cls in sources:
            try:
                self.sources.append(cls.create(self.registry, asset))
            except Exception as exc:  # a plugin's broken metrics must not stop the session
                self.source_errors += 1
                log.error("Metric source failed to start", extra={"fields": {"source": _name(cls), "error": repr(exc)}})

    # ---------------------------------------------------------------------------------------- observer

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Publish the starting state."""
        self.refresh(engine)

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """Bin the latency; refresh everything every ``refresh_events`` events."""
        self.latency.observe_ns(latency_ns)
        self._countdown -= 1
        if self._countdown <= 0:
            self.refresh(engine)

    def on_order_path(self, engine: Engine, event: Event, latency_ns: int) -> None:
        """Bin the order path of one batch sent (published at the next refresh)."""
        self.order_path.observe_ns(latency_ns)

    def on_status(self, engine: Engine) -> None:
        """Refresh at every status interval."""
        self.refresh(engine)

    def on_stop(self, engine: Engine, result: RunResult) -> None:
        """Publish the final state (the server may be scraped once more before it closes)."""
        self.refresh(engine)

    # ---------------------------------------------------------------------------------------- refresh

    def refresh(self, engine: Engine) -> None:
        """Set every gauge and bring every counter up to the engine's statistics."""
        self._countdown = self.refresh_events
        self.latency.publish()
        self.order_path.publish()
        self._gauges(engine)
        self._counters(engine)
        for source in list(self.sources):
            try:
                source.update(engine)
            except Exception as exc:  # logged, counted and dropped, like a failing metrics sink
                self.source_errors += 1
                self.sources.remove(source)
                log.error("Metric source failed and was dropped",
                          extra={"fields": {"source": _name(source), "error": repr(exc)}})

    def _gauges(self, engine: Engine) -> None:
        g = self.gauges
        portfolio = engine.portfolio
        pnl = portfolio.snapshot(engine.now_ns)
        limit = engine.settings.trading.max_absolute_position_size
        position = float(portfolio.position)
        market = engine.market
        mid = market.mid
        values = engine.params.values if engine.params is not None else {}
        g["mm_position"].set(position)
        g["mm_max_position"].set(limit)
        g["mm_inventory_utilization"].set(abs(position) / limit if limit > 0 else 0.0)
        g["mm_daily_pnl"].set(pnl.daily)
        g["mm_realized_pnl"].set(pnl.realized)
        g["mm_unrealized_pnl"].set(pnl.unrealized)
        g["mm_total_pnl"].set(pnl.total)
        capital = engine.capital_usd
        g["mm_drawdown_pct"].set(pnl.drawdown / capital * 100.0 if capital > 0 else 0.0)
        if mid is not None:
            g["mm_mid_price"].set(mid)
            if market.best_bid is not None and market.best_ask is not None:
                g["mm_spread_bps"].set((market.best_ask - market.best_bid) / mid * 1e4)
        quoted = _quoted_half_spread_bps(engine)
        g["mm_quoted_spread_bps"].set(2 * quoted if quoted is not None else 0.0)
        for gauge, key in (("mm_sigma", "sigma"), ("mm_kappa", "kappa"), ("mm_jump_ratio", "jump_ratio"),
                           ("mm_cascade_severity", "cascade_severity"),
                           ("mm_adverse_selection_bps", "adverse_selection_bps")):
            if key in values:
                g[gauge].set(values[key])
        g["mm_tail_risk_multiplier"].set(self._tail_multiplier(quoted, values))
        g["mm_kill_switch_triggered"].set(1.0 if engine.killed else 0.0)
        g["mm_risk_level"].set(int(RiskLevel(engine.verdict.level)))
        g["mm_open_orders"].set(len(engine.orders.live()))
        if self.attribution is not None:
            split = self.attribution.split(portfolio.mark_price, portfolio.fees, portfolio.funding).as_floats()
            for component in ("spread_capture", "adverse_selection", "inventory", "fees", "funding"):
                g[f"mm_pnl_{component}"].set(split[component])

    def _tail_multiplier(self, quoted: float | None, values: Any) -> float:
        """Current half-spread over its calm baseline: an EWMA of the half-spreads quoted while the cascade
        severity is below ``CALM_SEVERITY`` and no jump is flagged. 1.0 until there is a baseline."""
        if quoted is None or quoted <= 0:
            return 1.0
        calm = values.get("cascade_severity", 0.0) < CALM_SEVERITY and values.get("jump_flag", 0.0) < 0.5
        if calm:
            base = self._calm_half_spread
            self._calm_half_spread = quoted if base is None else 0.9 * base + 0.1 * quoted
        base = self._calm_half_spread
        return quoted / base if base else 1.0

    def _counters(self, engine: Engine) -> None:
        stats = engine.stats
        hub = self.hub
        now = {
            "mm_events": stats.events,
            "mm_orders_placed": stats.orders_placed,
            "mm_orders_modified": stats.orders_modified,
            "mm_orders_cancelled": stats.orders_cancelled,
            "mm_orders_rejected": stats.orders_rejected,
            "mm_pretrade_rejects": stats.pretrade_rejects,
            "mm_crossing_held": stats.crossing_held,
            "mm_fills": engine.portfolio.fills,
            "mm_duplicate_fills": stats.duplicate_fills,
            "mm_reconnects": hub.reconnects,
            "mm_rate_limit_errors": stats.rate_limit_errors,
            "mm_bad_messages": stats.bad_events,
            "mm_reconciliation_discrepancies": hub.reconciliation_discrepancies,
            "mm_component_errors": stats.component_errors,
            "mm_journal_errors": hub.journal_errors,
        }
        dispatcher = hub.dispatcher
        if dispatcher is not None:
            now.update(mm_alerts_sent=dispatcher.sent, mm_alerts_failed=dispatcher.failed,
                       mm_alerts_dropped=dispatcher.dropped)
        for name, value in now.items():
            delta = value - self._seen[name]
            if delta > 0:
                self.counters[name].inc(delta)
                self._seen[name] = value


def _quoted_half_spread_bps(engine: Engine) -> float | None:
    """Half the distance between our best target bid and ask, in bps of the mid; None unless both sides quote."""
    ladder = engine.ladder
    mid = engine.market.mid
    if not ladder.bids or not ladder.asks or not mid:
        return None
    return float(ladder.asks[0].price - ladder.bids[0].price) / 2 / mid * 1e4


def _name(obj: object) -> str:
    return str(getattr(obj, "name", type(obj).__name__))
