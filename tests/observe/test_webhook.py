"""The webhook sink against a local HTTP server, and the dispatcher's bounded, non-blocking queue."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mmtool.core.config import Settings
from mmtool.core.plugins import Registry
from mmtool.observe.alerts import Alert, AlertDispatcher
from mmtool.observe.wiring import build_alert_sinks
from mmtool.plugins.alerts import webhook
from mmtool.plugins.alerts.webhook import WebhookSink


class Receiver:
    """A local HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"json": json.loads(body), "type": self.headers["Content-Type"]})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def kill_alert() -> Alert:
    return Alert("kill", "ETH", "KILL SWITCH TRIGGERED: daily-loss: loss limit", 123, {"value": -510.0})


def test_webhook_posts_json(receiver: Receiver) -> None:
    dispatcher = AlertDispatcher([WebhookSink(WebhookSink.Config(url=receiver.url))])
    dispatcher.start()
    assert dispatcher.publish(kill_alert())
    dispatcher.close()
    assert dispatcher.sent == 1 and dispatcher.failed == 0
    [got] = receiver.received
    assert got["type"] == "application/json"
    assert got["json"]["kind"] == "kill" and got["json"]["asset"] == "ETH" and got["json"]["ts_ns"] == 123
    assert got["json"]["fields"] == {"value": -510.0}
    assert got["json"]["text"].startswith("[mmtool ETH] kill: KILL SWITCH")


def test_kinds_filter_and_config_from_settings(receiver: Receiver) -> None:
    settings = Settings(alerts=Settings().alerts.__class__(sinks=["webhook"]),
                        plugins={"webhook": {"url": receiver.url, "kinds": ["pause"]}})
    [sink] = build_alert_sinks(settings, Registry.from_plugins(webhook))
    sink.send(kill_alert())
    sink.send(Alert("pause", "ETH", "Trading paused", 5))
    assert [r["json"]["kind"] for r in receiver.received] == ["pause"]
    assert receiver.url not in repr(sink.config)  # the URL may hold a token


def test_missing_url_and_unknown_sink_are_config_errors() -> None:
    from mmtool.core.errors import ConfigError

    settings = Settings(alerts=Settings().alerts.__class__(sinks=["webhook", "pager"]))
    with pytest.raises(ConfigError) as raised:
        build_alert_sinks(settings, Registry.from_plugins(webhook))
    text = "\n".join(raised.value.problems)
    assert "plugins.webhook: url: must be set" in text and "unknown alert sink 'pager'" in text


def test_failures_are_counted_not_raised() -> None:
    failing = Receiver(status=500)
    url = failing.url
    dispatcher = AlertDispatcher([WebhookSink(WebhookSink.Config(url=url, timeout_secs=2))])
    dispatcher.start()
    dispatcher.publish(kill_alert())
    failing.close()
    dispatcher.publish(kill_alert())  # nobody listens any more: connection refused
    dispatcher.close()
    assert dispatcher.failed == 2 and dispatcher.sent == 0


def test_a_slow_sink_never_blocks_publish() -> None:
    release = threading.Event()

    class Slow:
        name = "slow"

        def send(self, alert: Alert) -> None:
            release.wait(5)

        def close(self) -> None:
            return None

    dispatcher = AlertDispatcher([Slow()], queue_size=2)
    dispatcher.start()
    t0 = time.perf_counter()
    results = [dispatcher.publish(kill_alert()) for _ in range(10)]
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5
    assert results.count(False) == dispatcher.dropped >= 7  # one in the sink, two queued, the rest dropped
    release.set()
    dispatcher.close()
    assert dispatcher.sent == 10 - dispatcher.dropped
