"""The ``mmtool`` command line: a click group whose subcommands are thin calls into the core.

Plugin commands (``mmtool_register_commands``) join the group lazily, when a command is looked up or the
help lists them, so ``mmtool --help`` works even with a broken plugin installed. Every
:class:`~mmtool.core.errors.MmtoolError` becomes a clean ``Error: ...`` and exit status 1; anything else is a
bug and keeps its traceback.

Built-in commands are added with ``main.add_command(...)`` at the bottom of this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mmtool import __version__
from mmtool.core.config import LOG_FORMATS, LOG_LEVELS, Settings
from mmtool.core.config_loader import (
    KEY_FILE_ENV,
    PRIVATE_KEY_ENV,
    generate_config,
    load_settings,
    resolve_private_key,
    validate_components,
)
from mmtool.core.errors import ConfigError, MmtoolError
from mmtool.core.logsetup import setup_logging
from mmtool.core.plugins import Registry, load_registry

DEFAULT_CONFIG = "market_maker.toml"
#: Pass as ``obj`` to leave plugin commands out (used to render docs/cli.md from the built-ins only).
BUILTINS_ONLY = "mmtool:builtins-only"
_REGISTRY_KEY = "mmtool.registry"


def get_registry(ctx: click.Context) -> Registry:
    """The invocation's plugin registry, loaded once (honouring ``--disable-plugin``) and cached on the context."""
    root = ctx.find_root()
    if _REGISTRY_KEY not in root.meta:
        registry = load_registry(disabled=root.params.get("disable_plugin") or ())
        # Record plugin commands that clash with built-ins now, so every command (and list-plugins) sees them.
        registry.commands(reserved=set(getattr(root.command, "commands", {})))
        root.meta[_REGISTRY_KEY] = registry
    return root.meta[_REGISTRY_KEY]


def config_path(ctx: click.Context, config: str | None = None) -> Path | None:
    """The config file in use: ``config``, else the global ``--config``, else ``./market_maker.toml`` if present."""
    chosen = config or ctx.find_root().params.get("config")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def get_settings(ctx: click.Context, config: str | None = None, overrides: dict[str, object] | None = None) -> Settings:
    """Load settings for a command: file, environment, the global logging flags and ``overrides``.

    Also reconfigures logging from the loaded ``[logging]`` section.
    """
    params = ctx.find_root().params
    flags = {
        "logging.level": params.get("log_level"),
        "logging.format": params.get("log_format"),
        "logging.file": params.get("log_file"),
    }
    merged = {key: value for key, value in flags.items() if value is not None}
    merged.update(overrides or {})
    settings = load_settings(config_path(ctx, config), overrides=merged)
    setup_logging(settings.logging.level, settings.logging.format, settings.logging.file)
    return settings


class MmtoolGroup(click.Group):
    """A click group that adds plugin commands lazily and turns user errors into clean messages."""

    def _plugin_commands(self, ctx: click.Context) -> list[click.Command]:
        if ctx.find_root().obj == BUILTINS_ONLY:
            return []
        return get_registry(ctx).commands(reserved=self.commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin command names, sorted."""
        return sorted({*self.commands, *(c.name for c in self._plugin_commands(ctx) if c.name)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command, else a plugin command of that name."""
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        return next((c for c in self._plugin_commands(ctx) if c.name == cmd_name), None)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; an :class:`MmtoolError` becomes a :class:`click.ClickException`."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            message = exc.problems[0] if len(exc.problems) == 1 else "\n".join(
                [f"{len(exc.problems)} problems:"] + [f"  {problem}" for problem in exc.problems]
            )
            raise click.ClickException(message) from exc
        except MmtoolError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group("mmtool", cls=MmtoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mmtool")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="MMTOOL_CONFIG",
    help=f"Config file (default: ./{DEFAULT_CONFIG} when present; env MMTOOL_CONFIG).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), help="Log level (default INFO).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), help="Log format (default pretty).")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Also log to this file.")
@click.option(
    "--disable-plugin",
    multiple=True,
    metavar="NAME",
    help="Skip the plugin (entry point) NAME; repeatable. Also MMTOOL_DISABLE_PLUGINS=a,b.",
)
def main(
    config: str | None, log_level: str | None, log_format: str | None, log_file: str | None, disable_plugin: tuple
) -> None:
    """mmtool: automated market making on Hyperliquid perpetuals, extended by plugins."""
    setup_logging((log_level or "INFO").upper(), log_format or "pretty", log_file)  # type: ignore[arg-type]


@click.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_context
def list_plugins(ctx: click.Context, as_json: bool) -> None:
    """List installed components (strategies, estimators, risk monitors, exchanges) and broken plugins."""
    registry = get_registry(ctx)
    rows = registry.components() + registry.broken()
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mmtool plugins")
    for column in ("kind", "name", "package", "version", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        description = f"[red]ERROR: {row.error}[/red]" if row.error else row.description
        table.add_row(row.kind, row.name, row.package, row.version, description)
    Console().print(table)
    if registry.errors:
        click.echo(f"{len(registry.errors)} plugin problem(s); `mmtool validate-config` and `run` refuse to start.",
                   err=True)


@click.command("generate-config")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def generate_config_command(ctx: click.Context, out: str | None, force: bool) -> None:
    """Print a commented market_maker.toml with every option at its default."""
    registry = get_registry(ctx)
    text = generate_config(registry)
    if registry.errors:
        click.echo(f"warning: {len(registry.errors)} plugin problem(s); their tables are missing "
                   "(see `mmtool list-plugins`)", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}", err=True)


def _key_problems(settings: Settings, registry: Registry) -> list[str]:
    if settings.network.name == "sim":
        return []
    try:
        resolved = resolve_private_key(settings, registry)
    except ConfigError as exc:
        return exc.problems
    if resolved.private_key is None:
        return [f"private key: network '{settings.network.name}' needs one; set {PRIVATE_KEY_ENV} "
                f"(environment or .env) or {KEY_FILE_ENV}"]
    return []


@click.command("validate-config")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file (overrides the global one).")
@click.pass_context
def validate_config(ctx: click.Context, config: str | None) -> None:
    """Check the config and build every selected component without connecting; list every problem."""
    registry = get_registry(ctx)
    problems = [str(error) for error in registry.errors]
    try:
        settings = get_settings(ctx, config)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from exc
    try:
        validate_components(settings, registry, build=True)
    except ConfigError as exc:
        problems += exc.problems
    problems += _key_problems(settings, registry)
    if problems:
        raise ConfigError(problems)
    path = config_path(ctx, config)
    click.echo(
        f"OK {path or '(defaults)'}: network {settings.network.name}, strategy {settings.strategy.strategy_type}, "
        f"estimators {', '.join(settings.strategy.estimators) or 'none'}, "
        f"monitors {', '.join(settings.risk.monitors) or 'none'}"
    )


main.add_command(list_plugins)
main.add_command(generate_config_command)
main.add_command(validate_config)

from mmtool.commands.run import run_command  # noqa: E402  (needs the helpers above; imported last on purpose)

main.add_command(run_command)

from mmtool.commands.report import report_command  # noqa: E402

main.add_command(report_command)

from mmtool.commands.backtest import backtest_command  # noqa: E402

main.add_command(backtest_command)

from mmtool.commands.sweep import sweep_command  # noqa: E402

main.add_command(sweep_command)

from mmtool.commands.record import record_command  # noqa: E402

main.add_command(record_command)


from mmtool.commands.parity import parity_command  # noqa: E402

main.add_command(parity_command)
