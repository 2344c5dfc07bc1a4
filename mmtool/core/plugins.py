"""The plugin manager: loads entry points of group ``mmtool`` and indexes their components by kind and name.

A :class:`Registry` is built fresh for each invocation (:func:`load_registry`, or
:meth:`Registry.from_plugins` in tests) and passed explicitly; nothing is loaded at import time. A broken
plugin never stops the others from loading: its :class:`PluginLoadError` (naming the distribution, version,
entry point and target, with the cause chained) is kept in :attr:`Registry.errors`, and ``list-plugins``
shows it.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Collection, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs
import click
import pluggy

from mmtool.core import hookspecs
from mmtool.core.errors import PluginLoadError, UnknownComponentError

#: Component kind -> the registration hook that provides it.
KIND_HOOKS: dict[str, str] = {
    "strategy": "mmtool_register_strategies",
    "estimator": "mmtool_register_estimators",
    "risk_monitor": "mmtool_register_risk_monitors",
    "exchange": "mmtool_register_exchanges",
    "alert_sink": "mmtool_register_alert_sinks",
}
#: Plural names for messages ("registered strategies: ...").
KIND_PLURALS: dict[str, str] = {
    "strategy": "strategies",
    "estimator": "estimators",
    "risk_monitor": "risk monitors",
    "exchange": "exchanges",
    "alert_sink": "alert sinks",
}
#: Kind given to a broken plugin whose components are unknown (it failed before registering any).
BROKEN_PLUGIN_KIND = "plugin"
DISABLE_ENV = "MMTOOL_DISABLE_PLUGINS"
ENTRY_POINT_GROUP = "mmtool"

_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith("mmtool_"))


@attrs.frozen
class ComponentInfo:
    """One registered (or broken) component: what ``list-plugins`` shows and ``Registry.get`` resolves."""

    kind: str
    name: str
    cls: type | None
    package: str
    version: str
    description: str
    plugin: str
    error: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The JSON shape of ``list-plugins --json``: kind, name, package, version, description (+ error)."""
        out = {
            "kind": self.kind,
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "description": self.description,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@attrs.frozen
class CommandInfo:
    """A click command contributed by a plugin through ``mmtool_register_commands``."""

    name: str
    command: click.Command
    plugin: str
    package: str
    version: str


@attrs.frozen
class _Source:
    """Where a plugin came from, for error messages: distribution, version, entry point and target."""

    plugin: str
    target: str
    package: str
    version: str

    def describe(self) -> str:
        return f"{self.package} {self.version}, entry point '{self.plugin}' ({self.target})"


def describe_doc(obj: object) -> str:
    """First line of an object's docstring, or an empty string."""
    doc = inspect.getdoc(obj)
    return doc.strip().splitlines()[0].strip() if doc else ""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` suffix for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _parse_disabled(disabled: Iterable[str], env: Mapping[str, str]) -> set[str]:
    names = {d.strip() for d in disabled if d.strip()}
    names.update(p.strip() for p in env.get(DISABLE_ENV, "").split(",") if p.strip())
    return names


def _source_of(ep: EntryPoint) -> _Source:
    dist = getattr(ep, "dist", None)
    package = dist.name if dist is not None else "unknown"
    version = dist.version if dist is not None else "unknown"
    return _Source(plugin=ep.name, target=ep.value, package=package, version=version)


class Registry:
    """Components of every loaded plugin, by kind and name, plus the pluggy hook relay and load errors."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._components: dict[str, ComponentInfo] = {}
        self._broken: list[ComponentInfo] = []
        self._commands: dict[str, CommandInfo] = {}
        self._sources: dict[str, _Source] = {}
        self._rejected_commands: set[str] = set()
        #: Every load problem, in load order; :meth:`raise_errors` raises them as one.
        self.errors: list[PluginLoadError] = []

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_plugins(cls, *plugins: object, package: str = "test", version: str = "0") -> Registry:
        """Build a registry from explicit plugin objects or modules (for tests), without entry points."""
        registry = cls(_new_manager())
        for index, plugin in enumerate(plugins):
            name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"
            source = _Source(plugin=name, target=name, package=package, version=version)
            registry._add_plugin(plugin, source)
        registry._final_check()
        return registry

    def _fail(
        self,
        source: _Source,
        message: str,
        cause: BaseException | None = None,
        *,
        kind: str = BROKEN_PLUGIN_KIND,
        name: str | None = None,
    ) -> None:
        error = PluginLoadError(f"{source.describe()}: {message}")
        error.__cause__ = cause
        self.errors.append(error)
        self._broken.append(
            ComponentInfo(
                kind=kind,
                name=name or source.plugin,
                cls=None,
                package=source.package,
                version=source.version,
                description="",
                plugin=source.plugin,
                error=str(error),
            )
        )

    def _add_entry_point(self, ep: EntryPoint, source: _Source) -> None:
        try:
            plugin = ep.load()
        except Exception as exc:  # any import-time failure of a third-party module is the plugin's fault
            self._fail(source, f"failed to import: {type(exc).__name__}: {exc}", exc)
            return
        self._add_plugin(plugin, source)

    def _add_plugin(self, plugin: object, source: _Source) -> None:
        if source.plugin in self._sources:
            other = self._sources[source.plugin]
            self._fail(source, f"plugin name '{source.plugin}' is already used by {other.describe()}")
            return
        unmarked = [
            attr
            for attr in _HOOK_NAMES
            if callable(getattr(plugin, attr, None)) and not self._is_hookimpl(plugin, attr)
        ]
        if unmarked:
            self._fail(source, f"{', '.join(sorted(unmarked))} is not marked with @hookimpl (mmtool.api.hookimpl)")
            return
        try:
            self._pm.register(plugin, name=source.plugin)
        except Exception as exc:  # pluggy validates signatures at registration; a bad one is the plugin's fault
            self._fail(source, f"invalid hook implementation: {exc}", exc)
            return
        unknown = [
            impl.function.__name__
            for caller in self._pm.get_hookcallers(plugin) or []
            if not caller.has_spec()
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin and not impl.optionalhook
        ]
        if unknown:
            self._pm.unregister(plugin)
            hints = "; ".join(f"unknown hook '{name}'{did_you_mean(name, _HOOK_NAMES)}" for name in sorted(unknown))
            self._fail(source, hints)
            return
        self._sources[source.plugin] = source
        for kind, hook_name in KIND_HOOKS.items():
            for cls in self._call_registration(plugin, hook_name, source):
                self._add_component(kind, cls, source)
        for command in self._call_registration(plugin, "mmtool_register_commands", source):
            self._add_command(command, source)

    @staticmethod
    def _is_hookimpl(plugin: object, attr: str) -> bool:
        return hasattr(getattr(plugin, attr), f"{hookspecs.PROJECT}_impl")

    def _call_registration(self, plugin: object, hook_name: str, source: _Source) -> list[Any]:
        caller = getattr(self._pm.hook, hook_name)
        results: list[Any] = []
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                result = impl.function()
            except Exception as exc:  # a raising hook breaks this plugin only
                self._fail(source, f"{hook_name}() raised {type(exc).__name__}: {exc}", exc)
                continue
            if not isinstance(result, list | tuple):
                self._fail(source, f"{hook_name}() must return a list, got {type(result).__name__}")
                continue
            results.extend(result)
        return results

    def _add_component(self, kind: str, cls: Any, source: _Source) -> None:
        label = getattr(cls, "__qualname__", repr(cls))
        if not isinstance(cls, type):
            self._fail(source, f"{KIND_HOOKS[kind]}() returned {cls!r}, which is not a class", kind=kind, name=label)
            return
        name = getattr(cls, "name", None)
        problems = []
        if not isinstance(name, str) or not _KEBAB.match(name):
            problems.append(f"'name' must be a kebab-case string (got {name!r})")
        config = getattr(cls, "Config", None)
        if not (isinstance(config, type) and attrs.has(config)):
            problems.append("'Config' must be an attrs class")
        if not callable(getattr(cls, "from_config", None)):
            problems.append("'from_config' classmethod is missing")
        if problems:
            shown = name if isinstance(name, str) else label
            self._fail(source, f"{kind} {label}: {'; '.join(problems)}", kind=kind, name=shown)
            return
        existing = self._components.get(name)
        if existing is not None:
            first = self._sources[existing.plugin]
            self._fail(
                source,
                f"{kind} name '{name}' ({label}) is already taken by {existing.kind} '{name}' "
                f"from {first.describe()}",
                kind=kind,
                name=name,
            )
            return
        self._components[name] = ComponentInfo(
            kind=kind,
            name=name,
            cls=cls,
            package=source.package,
            version=source.version,
            description=describe_doc(cls),
            plugin=source.plugin,
        )

    def _add_command(self, command: Any, source: _Source) -> None:
        if not isinstance(command, click.Command) or not command.name:
            self._fail(source, f"mmtool_register_commands() returned {command!r}, which is not a named click.Command")
            return
        existing = self._commands.get(command.name)
        if existing is not None:
            first = self._sources[existing.plugin]
            self._fail(source, f"command '{command.name}' is already added by {first.describe()}")
            return
        self._commands[command.name] = CommandInfo(
            name=command.name, command=command, plugin=source.plugin, package=source.package, version=source.version
        )

    def _final_check(self) -> None:
        # Per-plugin checks above already refuse unknown hooks; this is pluggy's own safety net.
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            plugin_name = self._pm.get_name(exc.plugin) or "?"
            source = self._sources.get(plugin_name, _Source(plugin_name, plugin_name, "unknown", "unknown"))
            self._fail(source, str(exc), exc)

    # ------------------------------------------------------------------------------------------- queries

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, e.g. ``registry.hook.mmtool_resolve_secret(name=..., settings=...)``."""
        return self._pm.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (prefer :attr:`hook` and the query methods)."""
        return self._pm

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """Registered components, optionally of one kind, sorted by kind then name."""
        if kind is not None and kind not in KIND_HOOKS:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KIND_HOOKS)}")
        found = [c for c in self._components.values() if kind is None or c.kind == kind]
        return sorted(found, key=lambda c: (c.kind, c.name))

    def broken(self) -> list[ComponentInfo]:
        """One entry per load problem (``error`` set, ``cls`` None), in load order."""
        return list(self._broken)

    def names(self, kind: str) -> list[str]:
        """Sorted names of the registered components of one kind."""
        return [c.name for c in self.components(kind)]

    def info(self, kind: str, name: str) -> ComponentInfo:
        """The :class:`ComponentInfo` of a component, or :class:`UnknownComponentError` listing the alternatives."""
        found = self._components.get(name)
        if found is not None and found.kind == kind:
            return found
        plural = KIND_PLURALS.get(kind, kind)
        if found is not None:
            message = f"'{name}' is a {found.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}"
        else:
            message = f"unknown {kind.replace('_', ' ')} '{name}'{did_you_mean(name, self.names(kind))}"
        registered = ", ".join(self.names(kind)) or "none"
        message += f"; registered {plural}: {registered}"
        if self.errors:
            message += f" ({len(self.errors)} plugin problem(s); see `mmtool list-plugins`)"
        raise UnknownComponentError(message)

    def get(self, kind: str, name: str) -> type:
        """The component class of that kind and name; :class:`UnknownComponentError` lists the registered ones."""
        cls = self.info(kind, name).cls
        assert cls is not None  # registered components always carry their class
        return cls

    def command_infos(self) -> list[CommandInfo]:
        """Plugin commands with their providers, sorted by name."""
        return [self._commands[name] for name in sorted(self._commands)]

    def commands(self, reserved: Collection[str] = ()) -> list[click.Command]:
        """Click commands from ``mmtool_register_commands``, sorted by name.

        A command named like one in ``reserved`` (the CLI's built-ins) is left out and recorded once as a
        :class:`PluginLoadError` naming its plugin.
        """
        out = []
        for info in self.command_infos():
            if info.name in reserved:
                if info.name not in self._rejected_commands:
                    self._rejected_commands.add(info.name)
                    self._fail(self._sources[info.plugin], f"command '{info.name}' clashes with a built-in command")
                continue
            out.append(info.command)
        return out

    def raise_errors(self) -> None:
        """Raise one :class:`PluginLoadError` listing every load problem, if there was any."""
        if not self.errors:
            return
        lines = [f"{len(self.errors)} plugin problem(s):"] + [f"  {e}" for e in self.errors]
        lines.append(f"Fix or uninstall the plugin, or disable it with --disable-plugin NAME or {DISABLE_ENV}.")
        raise PluginLoadError("\n".join(lines)) from self.errors[0]


def load_registry(disabled: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Registry:
    """Build a fresh registry from the installed entry points of group ``mmtool``, in sorted name order.

    Entry points named in ``disabled`` or in ``MMTOOL_DISABLE_PLUGINS`` (comma-separated, read from ``env``,
    default ``os.environ``) are skipped. Problems never raise here: see :attr:`Registry.errors`.
    """
    skip = _parse_disabled(disabled, os.environ if env is None else env)
    registry = Registry(_new_manager())
    points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, _source_of(ep).package))
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in points:
        by_name.setdefault(ep.name, []).append(ep)
    for name, group in by_name.items():
        if name in skip:
            continue
        if len({_source_of(ep) for ep in group}) > 1:
            providers = " and ".join(_source_of(ep).describe() for ep in group)
            for ep in group:
                registry._fail(_source_of(ep), f"entry point name '{name}' is provided by both {providers}")
            continue
        registry._add_entry_point(group[0], _source_of(group[0]))
    registry._final_check()
    return registry
