"""Loading and validating ``market_maker.toml``: layers, strict structuring, and errors that name the field.

Precedence is defaults < TOML file < ``MMTOOL__SECTION__KEY`` environment variables < overrides (CLI flags).
Every problem is collected and reported at once, one line each, as ``trading.risk_aversion: must be > 0 (got
-1.0)``. Structuring uses a ``cattrs.preconf.tomllib`` converter with ``forbid_extra_keys=True`` and strict
hooks (TOML has real types: ``2.5`` is not an integer and ``"yes"`` is not a boolean); attrs validators run
after construction, one by one, so every failing field is reported and its message kept.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.tomllib import TomllibConverter, make_converter

from mmtool.core.components import ComponentContext
from mmtool.core.config import Settings
from mmtool.core.errors import ConfigError, UnknownComponentError
from mmtool.core.plugins import KIND_HOOKS, describe_doc, did_you_mean
from mmtool.core.rounding import AssetRules

if TYPE_CHECKING:
    from mmtool.core.plugins import Registry

ENV_PREFIX = "MMTOOL__"
PRIVATE_KEY_ENV = "HYPERLIQUID_PRIVATE_KEY"
KEY_FILE_ENV = "HYPERLIQUID_KEY_FILE"
_KEY_REFUSAL = (
    f"private_key: refused; never put the private key in the config. Set {PRIVATE_KEY_ENV} in the environment "
    f"or in a .env file in the working directory, or point {KEY_FILE_ENV} at a file with 0600 permissions"
)
#: Exchange adapter used for each network.
NETWORK_EXCHANGES = {"sim": "sim", "localhost": "hyperliquid", "testnet": "hyperliquid", "mainnet": "hyperliquid"}
#: szDecimals assumed when components are built for validation (no exchange is contacted).
VALIDATION_SZ_DECIMALS = 4


# --------------------------------------------------------------------------------------- strict structuring


class _Mismatch(TypeError):
    """A value of the wrong type; the message is already user-facing."""


class _EnvText(str):
    """Raw text of an environment value whose TOML reading is a number, boolean or date.

    It stays text for ``str`` fields (an address such as ``0xab..`` must not become an integer) and is parsed
    for typed fields.
    """

    parsed: Any

    def __new__(cls, text: str, parsed: Any) -> _EnvText:
        obj = super().__new__(cls, text)
        obj.parsed = parsed
        return obj


def parse_env_value(text: str) -> Any:
    """Read an environment value as a TOML scalar (or array/inline table), falling back to the text itself."""
    try:
        parsed = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    if isinstance(parsed, str | list | dict):
        return parsed
    return _EnvText(text, parsed)


def _typed(value: Any) -> Any:
    return value.parsed if isinstance(value, _EnvText) else value


_TOML_NAMES = {str: "string", bool: "boolean", int: "integer", float: "float", list: "array", dict: "table"}


def _show(value: Any) -> str:
    for py, name in _TOML_NAMES.items():
        if isinstance(value, py):
            return f"{name} {value!r}" if not isinstance(value, list | dict) else name
    return f"{type(value).__name__} {value!r}"


def _literal_list(values: Sequence[Any]) -> str:
    return ", ".join(repr(v.value if isinstance(v, enum.Enum) else v) for v in values)


def type_label(t: Any) -> str:
    """A short human name of a config field's type: ``number``, ``list of string``, ``one of 'a', 'b'``."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is Any:
        return "any"
    if origin is Literal:
        return f"one of {_literal_list(args)}"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        label = " or ".join(type_label(a) for a in inner)
        return f"{label} (optional)" if len(inner) < len(args) else label
    if origin in (list, tuple, set, frozenset, Sequence) or t in (list, tuple):
        return f"list of {type_label(args[0])}" if args else "list"
    if origin in (dict, Mapping) or t is dict or (isinstance(t, type) and attrs.has(t)):
        return "table"
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return f"one of {_literal_list(list(t))}"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", Decimal: "decimal"}
    return names.get(t, getattr(t, "__name__", str(t)))


@contextlib.contextmanager
def _validators_off() -> Iterator[None]:
    # attrs.validators.disabled() re-enables on exit even when nested; nested structuring needs the old state.
    before = attrs.validators.get_disabled()
    attrs.validators.set_disabled(True)
    try:
        yield
    finally:
        attrs.validators.set_disabled(before)


def _resolved_fields(cl: type) -> tuple[attrs.Attribute, ...]:
    with contextlib.suppress(NameError, TypeError):
        attrs.resolve_types(cl)
    return attrs.fields(cl)


def _s_int(value: Any, _: Any) -> int:
    value = _typed(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Mismatch(f"expected an integer, got {_show(value)}")
    return value


def _s_float(value: Any, _: Any) -> float:
    value = _typed(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Mismatch(f"expected a number, got {_show(value)}")
    return float(value)


def _s_bool(value: Any, _: Any) -> bool:
    value = _typed(value)
    if not isinstance(value, bool):
        raise _Mismatch(f"expected true or false, got {_show(value)}")
    return value


def _s_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _Mismatch(f"expected a string, got {_show(value)}")
    return str(value)


def _s_decimal(value: Any, _: Any) -> Decimal:
    value = _typed(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Mismatch(f"expected a decimal number (preferably as a string), got {_show(value)}")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise _Mismatch(f"expected a decimal number, got {_show(value)}") from None
    if not result.is_finite():
        raise _Mismatch(f"expected a finite decimal number, got {_show(value)}")
    return result


def _same(candidate: Any, option: Any) -> bool:
    plain = option.value if isinstance(option, enum.Enum) else option
    if isinstance(plain, bool) or isinstance(candidate, bool):
        return candidate is plain
    return bool(candidate == plain)


def _literal_hook(t: Any) -> Any:
    allowed = typing.get_args(t)

    def structure(value: Any, _: Any) -> Any:
        for option in allowed:
            if _same(value, option) or _same(_typed(value), option):
                return option
        raise ValueError(f"{_typed(value)!r} is not one of {_literal_list(allowed)}")

    return structure


def _enum_hook(t: type[enum.Enum]) -> Any:
    def structure(value: Any, _: Any) -> Any:
        for member in t:
            if value == member.value or _typed(value) == member.value or value == member.name:
                return member
        raise ValueError(f"{_typed(value)!r} is not one of {_literal_list(list(t))}")

    return structure


def _is_sequence(t: Any) -> bool:
    return typing.get_origin(t) in (list, tuple, set, frozenset, Sequence) or t in (list, tuple)


def _is_mapping(t: Any) -> bool:
    return typing.get_origin(t) in (dict, Mapping) or t is dict


def _note_iterable(exc: Exception, index: int | str, t: Any) -> Exception:
    exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(f"@ {index}", index, t)]
    return exc


def _sequence_hook(t: Any, converter: TomllibConverter) -> Any:
    origin = typing.get_origin(t) or t
    args = typing.get_args(t)
    fixed = origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Mismatch(f"expected an array, got {_show(value)}")
        if fixed and len(value) != len(args):
            raise _Mismatch(f"expected an array of {len(args)} items, got {len(value)}")
        out, errors = [], []
        for index, item in enumerate(value):
            elem_t = (args[index] if fixed else args[0]) if args else Any
            try:
                out.append(converter.structure(item, elem_t))
            except Exception as exc:
                errors.append(_note_iterable(exc, index, elem_t))
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        if origin in (tuple, set, frozenset):
            return origin(out)
        return out

    return structure


def _mapping_hook(t: Any, converter: TomllibConverter) -> Any:
    key_t, val_t = typing.get_args(t) or (Any, Any)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Mismatch(f"expected a table, got {_show(value)}")
        out, errors = {}, []
        for key, item in value.items():
            try:
                out[converter.structure(key, key_t)] = converter.structure(item, val_t)
            except Exception as exc:
                errors.append(_note_iterable(exc, str(key), val_t))
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        return out

    return structure


def _attrs_hook(cl: type, converter: TomllibConverter) -> Any:
    fields = _resolved_fields(cl)
    base = make_dict_structure_fn(cl, converter)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Mismatch(f"expected a table, got {_show(value)}")
        with _validators_off():
            obj = base(value, cl)
        errors = []
        for field in fields:
            if field.validator is None:
                continue
            try:
                field.validator(obj, field, getattr(obj, field.name))
            except Exception as exc:
                note = AttributeValidationNote(f"Validating {cl.__qualname__} @ {field.name}", field.name, field.type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise ClassValidationError(f"While validating {cl.__qualname__}", errors, cl)
        return obj

    return structure


def make_config_converter() -> TomllibConverter:
    """The strict TOML converter used for settings and every component ``Config``."""
    converter = make_converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _s_int)
    converter.register_structure_hook(float, _s_float)
    converter.register_structure_hook(bool, _s_bool)
    converter.register_structure_hook(str, _s_str)
    converter.register_structure_hook(Decimal, _s_decimal)
    converter.register_structure_hook_factory(lambda t: typing.get_origin(t) is Literal, _literal_hook)
    converter.register_structure_hook_factory(lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_hook)
    converter.register_structure_hook_factory(_is_sequence, lambda t: _sequence_hook(t, converter))
    converter.register_structure_hook_factory(_is_mapping, lambda t: _mapping_hook(t, converter))
    converter.register_structure_hook_factory(
        lambda t: isinstance(t, type) and attrs.has(t), lambda t: _attrs_hook(t, converter)
    )
    return converter


# ------------------------------------------------------------------------------------------ error messages


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _leaf_message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "required key is missing"
    text = str(exc)
    return text if text else type(exc).__name__


def format_problems(exc: BaseException, path: str = "") -> list[str]:
    """Turn a cattrs exception tree into ``path: message`` lines, keeping validator messages."""
    out: list[str] = []
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            key = note.name if isinstance(note, AttributeValidationNote) else note.index
            out.extend(format_problems(sub, _join(path, key)))
        for sub in without:
            out.extend(format_problems(sub, path))
    elif isinstance(exc, ForbiddenExtraKeysError):
        allowed = [f.name for f in attrs.fields(exc.cl)]
        for key in sorted(exc.extra_fields):
            out.append(f"{_join(path, key)}: unknown key{did_you_mean(key, allowed)}")
    else:
        out.append(f"{path or '<top level>'}: {_leaf_message(exc)}")
    return out


@functools.cache
def _converter() -> TomllibConverter:
    # Shared by loading and generation; hooks are generated once per class. Never handed out, so never mutated.
    return make_config_converter()


def structure_config(data: Any, cl: type, prefix: str = "") -> tuple[Any, list[str]]:
    """Structure ``data`` into ``cl``; return the object (None on failure) and the problem lines."""
    try:
        return _converter().structure(data, cl), []
    except Exception as exc:  # every structuring failure is a user-facing problem line
        return None, format_problems(exc, prefix)


# ----------------------------------------------------------------------------------------------- layers


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (create one with `mmtool generate-config`)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _set_path(data: dict[str, Any], parts: list[str], value: Any, source: str, problems: list[str]) -> None:
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            problems.append(f"{'.'.join(parts[: depth + 1])}: {source} sets a key inside it, but it is not a table")
            return
        node = child
    node[parts[-1]] = value


def _env_layer(data: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        if not all(parts):
            problems.append(f"{var}: malformed variable name (use MMTOOL__SECTION__KEY)")
            continue
        if parts[0] == "plugins" and len(parts) > 1:
            parts[1] = parts[1].replace("_", "-")  # component names are kebab-case; variable names cannot be
        _set_path(data, parts, parse_env_value(env[var]), var, problems)


def _override_layer(data: dict[str, Any], overrides: Mapping[str, object], problems: list[str]) -> None:
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if not all(parts):
            problems.append(f"{dotted}: malformed override key")
            continue
        _set_path(data, parts, parse_env_value(value) if isinstance(value, str) else value, "an override", problems)


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Load settings from defaults, an optional TOML file, ``MMTOOL__...`` variables and overrides.

    :param path: the TOML file, or None for defaults plus environment and overrides only.
    :param env: the environment (default ``os.environ``).
    :param overrides: dotted keys from CLI flags, e.g. ``{"trading.risk_aversion": 0.3}``; they win.
    :raises ConfigError: listing every problem, one per line.
    """
    data: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    problems: list[str] = []
    _env_layer(data, os.environ if env is None else env, problems)
    _override_layer(data, overrides or {}, problems)
    if data.pop("private_key", None) is not None:
        problems.append(_KEY_REFUSAL)
    settings, structure_problems = structure_config(data, Settings)
    problems.extend(structure_problems)
    if problems:
        raise ConfigError(problems)
    return settings


def resolve_private_key(settings: Settings, registry: Registry) -> Settings:
    """Ask the ``mmtool_resolve_secret`` hook for the private key; return settings carrying it (or unchanged)."""
    key = registry.hook.mmtool_resolve_secret(name="private_key", settings=settings)
    return settings if key is None else attrs.evolve(settings, private_key=key)


# ------------------------------------------------------------------------------------------- components


def component_config(settings: Settings, cls: type) -> object:
    """Structure the component's ``[plugins.<name>]`` table into ``cls.Config`` (defaults when absent)."""
    name = cls.name  # type: ignore[attr-defined]
    config, problems = structure_config(settings.plugins.get(name, {}), cls.Config, f"plugins.{name}")  # type: ignore[attr-defined]
    if problems:
        raise ConfigError(problems)
    return config


def _selected(settings: Settings) -> list[tuple[str, str, str]]:
    chosen = [("strategy", settings.strategy.strategy_type, "strategy.strategy_type")]
    chosen += [("estimator", n, f"strategy.estimators[{i}]") for i, n in enumerate(settings.strategy.estimators)]
    chosen += [("risk_monitor", n, f"risk.monitors[{i}]") for i, n in enumerate(settings.risk.monitors)]
    chosen.append(("exchange", NETWORK_EXCHANGES[settings.network.name], "network.name"))
    return chosen


def validate_components(settings: Settings, registry: Registry, *, build: bool = False) -> None:
    """Check that every selected component exists and that every ``[plugins.X]`` table structures.

    Selected are the strategy, the estimators, the risk monitors and the network's exchange adapter. With
    ``build=True`` the strategy, estimators and monitors are also built with ``from_config`` (never the
    exchange adapter, which would connect).

    :raises ConfigError: listing every problem, one per line.
    """
    problems: list[str] = []
    configs: dict[str, tuple[str, type, object]] = {}
    seen: dict[tuple[str, str], str] = {}
    checked: set[str] = set()
    for kind, name, where in _selected(settings):
        if (kind, name) in seen:
            problems.append(f"{where}: '{name}' is already listed at {seen[kind, name]}")
            continue
        seen[kind, name] = where
        try:
            cls = registry.get(kind, name)
        except UnknownComponentError as exc:
            problems.append(f"{where}: {exc}")
            continue
        config, config_problems = structure_config(settings.plugins.get(name, {}), cls.Config, f"plugins.{name}")
        problems.extend(config_problems)
        checked.add(name)
        if config is not None:
            configs[name] = (kind, cls, config)
    registered = {info.name: info for info in registry.components()}
    for name in sorted(settings.plugins):
        if name in checked:
            continue
        info = registered.get(name)
        if info is None:
            hint = did_you_mean(name, registered)
            problems.append(f"plugins.{name}: no installed component is called '{name}'{hint}")
            continue
        assert info.cls is not None
        problems.extend(structure_config(settings.plugins[name], info.cls.Config, f"plugins.{name}")[1])
    if build:
        asset = settings.trading.asset
        ctx = ComponentContext(asset, AssetRules(asset, sz_decimals=VALIDATION_SZ_DECIMALS), settings)
        for name, (kind, cls, config) in configs.items():
            if kind == "exchange":
                continue
            try:
                cls.from_config(config, ctx)  # type: ignore[attr-defined]
            except Exception as exc:  # a component refusing its config is a config problem, named here
                problems.append(f"plugins.{name}: cannot build {kind.replace('_', ' ')}: {type(exc).__name__}: {exc}")
    if problems:
        raise ConfigError(problems)


# --------------------------------------------------------------------------------------- generate-config


def toml_value(value: Any) -> str:
    """Encode an unstructured value (str, number, bool, list, dict, Decimal, enum) as TOML."""
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Decimal):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if attrs.has(type(value)):
        return toml_value(_converter().unstructure(value))
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    bare = key.replace("-", "").replace("_", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


_PLACEHOLDERS = {"string": '""', "number": "0.0", "integer": "0", "boolean": "false", "decimal": '"0"'}


def _field_default(cl: type, field: attrs.Attribute, instance: Any) -> tuple[bool, Any]:
    if instance is not None:
        return True, getattr(instance, field.name)
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return (False, None) if field.default.takes_self else (True, field.default.factory())
    return (False, None) if field.default is attrs.NOTHING else (True, field.default)


def _emit_table(lines: list[str], header: str, cl: type, intro: str | None = None) -> None:
    fields = _resolved_fields(cl)
    try:
        instance = cl()
    except Exception:  # a Config with required fields: fall back to per-field defaults
        instance = None
    lines += ["", f"[{header}]"]
    if intro:
        lines += [f"# {line}".rstrip() for line in intro.splitlines()]
    nested: list[attrs.Attribute] = []
    for field in fields:
        if field.metadata.get("secret") or not field.init:
            continue
        if isinstance(field.type, type) and attrs.has(field.type):
            nested.append(field)
            continue
        label = type_label(field.type)
        help_text = field.metadata.get("help", "")
        lines.append("")
        if help_text:
            lines.append(f"# {help_text}")
        if label.startswith("one of"):
            lines.append(f"# Allowed: {label[len('one of ') :]}.")
        known, default = _field_default(cl, field, instance)
        key = _toml_key(field.name)
        if not known:
            lines.append(f"# {key} = {_PLACEHOLDERS.get(label, '...')}  # required: no default")
        elif default is None:
            placeholder = _PLACEHOLDERS.get(label.removesuffix(" (optional)"), '""')
            lines.append(f"# {key} = {placeholder}  # not set by default")
        else:
            lines.append(f"{key} = {toml_value(_converter().unstructure(default))}")
    for field in nested:
        _emit_table(lines, f"{header}.{_toml_key(field.name)}", field.type, field.metadata.get("help"))


def generate_config(registry: Registry) -> str:
    """A commented ``market_maker.toml``: every section and option at its default, plus one
    ``[plugins.<name>]`` table per registered component with its ``Config`` defaults."""
    lines = [
        "# market_maker.toml: mmtool configuration, written by `mmtool generate-config`.",
        "# Every option is shown at its default. Precedence: defaults < this file < MMTOOL__SECTION__KEY",
        "# environment variables < command-line flags. Check it with `mmtool validate-config`.",
        f"# The private key never goes here: set {PRIVATE_KEY_ENV} (environment or .env) or {KEY_FILE_ENV}.",
    ]
    for field in _resolved_fields(Settings):
        if isinstance(field.type, type) and attrs.has(field.type):
            _emit_table(lines, field.name, field.type, describe_doc(field.type))
    lines += ["", "# ---- Component options: one [plugins.<name>] table per installed component. ----"]
    for kind in KIND_HOOKS:
        for info in registry.components(kind):
            intro = f"{kind.replace('_', ' ')} '{info.name}' from {info.package} {info.version}"
            if info.description:
                intro += f": {info.description}"
            _emit_table(lines, f"plugins.{_toml_key(info.name)}", info.cls.Config, intro)  # type: ignore[union-attr]
    return "\n".join(lines) + "\n"
