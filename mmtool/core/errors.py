"""User-facing errors. The CLI turns every :class:`MmtoolError` into a clean message and a non-zero exit."""

from __future__ import annotations


class MmtoolError(Exception):
    """Base of every error a user can cause and fix (bad config, broken plugin, bad input)."""


class ConfigError(MmtoolError):
    """The configuration is invalid; the message lists every problem, one per line, naming the field."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class PluginLoadError(MmtoolError):
    """A plugin failed to import, registered badly, or clashed with another plugin's component name."""


class UnknownComponentError(MmtoolError):
    """A component name was asked for that no installed plugin provides."""


class RoundingError(MmtoolError):
    """A price or size cannot be made valid for the exchange (non-positive, non-finite, too precise)."""


class ExchangeError(MmtoolError):
    """The exchange refused a request or could not be reached."""


class KillSwitchEngaged(MmtoolError):
    """A previous run was killed and its kill marker is still present."""
