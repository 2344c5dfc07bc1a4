"""``test_hook_<name>`` for the observability hooks (metrics sources and alert sinks)."""

from __future__ import annotations

import types
from typing import ClassVar

import attrs
from prometheus_client import CollectorRegistry, Gauge

from mmtool.core.hookspecs import hookimpl
from mmtool.core.plugins import Registry
from mmtool.observe.wiring import metric_sources


class QueueMetrics:
    """A plugin's own metric: events seen at the last refresh."""

    name: ClassVar[str] = "queue-metrics"

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge

    @classmethod
    def create(cls, registry: CollectorRegistry, asset: str) -> QueueMetrics:
        return cls(Gauge("plugin_events", "events", ["asset"], registry=registry).labels(asset))

    def update(self, engine: object) -> None:
        self.gauge.set(7)


class PageSink:
    """Pages someone."""

    name: ClassVar[str] = "pager"

    @attrs.frozen
    class Config:
        """Options."""

        team: str = "ops"

    @classmethod
    def from_config(cls, config: PageSink.Config, ctx: object) -> PageSink:
        return cls()

    def send(self, alert: object) -> None:
        return None

    def close(self) -> None:
        return None


def test_hook_mmtool_register_metrics() -> None:
    @hookimpl
    def mmtool_register_metrics() -> list[type]:
        return [QueueMetrics]

    plugin = types.SimpleNamespace(__name__="m", mmtool_register_metrics=mmtool_register_metrics)
    registry = Registry.from_plugins(plugin)
    assert registry.errors == []
    assert metric_sources(registry) == [QueueMetrics]
    prom = CollectorRegistry()
    source = metric_sources(registry)[0].create(prom, "ETH")
    source.update(object())
    assert prom.get_sample_value("plugin_events", {"asset": "ETH"}) == 7


def test_hook_mmtool_register_alert_sinks() -> None:
    @hookimpl
    def mmtool_register_alert_sinks() -> list[type]:
        return [PageSink]

    registry = Registry.from_plugins(
        types.SimpleNamespace(__name__="a", mmtool_register_alert_sinks=mmtool_register_alert_sinks)
    )
    assert registry.get("alert_sink", "pager") is PageSink
    assert [c.kind for c in registry.components()] == ["alert_sink"]
    assert registry.names("alert_sink") == ["pager"]
