"""The ``webhook`` alert sink: POST each alert as JSON to a configured URL (Slack-compatible ``text`` included).

It runs on the alert dispatcher's thread, never on the trading loop; a failed POST raises, and the
dispatcher logs and counts it.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import gt
from mmtool.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext
    from mmtool.observe.alerts import Alert

ALERT_KINDS = ("kill", "pause", "reconnect_storm", "reconciliation")


def _url_ok(inst: object, attribute: attrs.Attribute, value: str) -> None:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")


def _kinds_ok(inst: object, attribute: attrs.Attribute, value: list[str]) -> None:
    unknown = [k for k in value if k not in ALERT_KINDS]
    if unknown:
        raise ValueError(f"unknown alert kinds {unknown}; allowed: {', '.join(ALERT_KINDS)}")


class WebhookSink:
    """Post alerts as JSON to a webhook URL (Slack, a pager, your own service)."""

    name: ClassVar[str] = "webhook"

    @attrs.frozen
    class Config:
        """Options of the webhook alert sink."""

        url: str = attrs.field(
            default="", repr=False, validator=_url_ok,
            metadata={"help": "URL to POST alerts to (required when the sink is used; kept out of logs)"},
        )
        timeout_secs: float = attrs.field(default=5.0, validator=gt(0), metadata={"help": "Timeout of one POST"})
        kinds: list[str] = attrs.field(
            factory=lambda: list(ALERT_KINDS), validator=_kinds_ok,
            metadata={"help": "Alert kinds to send: kill, pause, reconnect_storm, reconciliation"},
        )

    def __init__(self, config: WebhookSink.Config) -> None:
        self.config = config
        self.posted = 0

    @classmethod
    def from_config(cls, config: WebhookSink.Config, ctx: ComponentContext) -> WebhookSink:
        """Build from ``[plugins.webhook]``; the URL is required."""
        if not config.url:
            raise ValueError("url: must be set to use the webhook alert sink")
        return cls(config)

    def send(self, alert: Alert) -> None:
        """POST the alert; raises on a network error or a non-2xx answer."""
        if alert.kind not in self.config.kinds:
            return
        body = alert.as_dict()
        body["text"] = f"[mmtool {alert.asset}] {alert.kind}: {alert.message}"
        request = urllib.request.Request(
            self.config.url,
            data=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "mmtool-alerts"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.config.timeout_secs) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"webhook answered HTTP {response.status}")
        self.posted += 1

    def close(self) -> None:
        """Nothing is held open between posts."""
        return None


@hookimpl
def mmtool_register_alert_sinks() -> list[type]:
    """The built-in webhook sink."""
    return [WebhookSink]
