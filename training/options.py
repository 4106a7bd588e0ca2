"""Typer options and TOML keys derived from a frozen training config, declared only there.

:func:`config_options` turns a command ``fn(..., config: C)`` into one that takes an option per
field of ``C`` (help text from the class docstring's ``Args:``), plus ``--config FILE.toml``
whose keys are the same field names. An option given on the command line beats the file, the
file beats the field's default, and an unknown key is an error. The fields of a nested config
dataclass become options of their own (their names must not clash with the outer ones).

Example::

    @config_options(TrainConfig)
    def train(data: Annotated[Path, typer.Option()], config: TrainConfig) -> None: ...
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import tomllib
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any

import typer

CONFIG_OPTION = "config_file"
CONTEXT = "typer_context"  # typer passes its Context to a parameter of that type
_ENTRY = re.compile(r"^ {4}(\w+(?:, \w+)*): (.*)$")


def field_help(cls: type) -> dict[str, str]:
    """Map each field named in ``cls``'s Google-style ``Args:`` section to its description."""
    helps: dict[str, str] = {}
    names: list[str] = []
    in_args = False
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        if not line.startswith(" "):
            in_args = line.strip() == "Args:"
            names = []
        elif in_args and (entry := _ENTRY.match(line)):
            names = entry.group(1).split(", ")
            helps.update(dict.fromkeys(names, entry.group(2)))
        elif in_args and names and line.startswith(" " * 8):
            helps.update({n: f"{helps[n]} {line.strip()}" for n in names})
    return helps


def _read_toml(path: Path, allowed: Collection[str]) -> dict[str, Any]:
    try:
        values = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--config") from None
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise typer.BadParameter(f"{path}: unknown keys {unknown}", param_hint="--config")
    return values


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _leaves(cls: type[Any], exclude: Collection[str], prefix: str = "") -> list[_Leaf]:
    hints, helps = typing.get_type_hints(cls), field_help(cls)
    leaves: list[_Leaf] = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        if path in exclude:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            leaves += _leaves(hint, exclude, f"{path}.")
            continue
        option = typer.Option(help=helps.get(f.name))
        leaves.append(_Leaf(path, f.name, Annotated[hint, option], f.default))
    return leaves


@dataclasses.dataclass(frozen=True)
class _Leaf:
    path: str  # dotted: "train.lr"
    name: str  # the option's parameter name
    annotation: Any
    default: Any


def _build(cls: type[Any], values: dict[str, Any], prefix: str = "") -> Any:
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            kwargs[f.name] = _build(hint, values, f"{prefix}{f.name}.")
        elif f"{prefix}{f.name}" in values:
            kwargs[f.name] = values[f"{prefix}{f.name}"]
    return cls(**kwargs)


def config_options(
    cls: type[Any], *, exclude: Collection[str] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give the command ``fn(..., config)`` one option per field of ``cls`` and ``--config``.

    Args:
        cls: a frozen dataclass; its ``__post_init__`` validates (a ``ValueError`` becomes a
            usage error).
        exclude: fields left at their defaults (neither option nor TOML key), dotted for
            nested ones (``"train.seed"``).
    """
    leaves = _leaves(cls, exclude)
    names = [leaf.name for leaf in leaves]
    if len(set(names)) < len(names):
        raise ValueError(f"{cls.__name__}: nested fields clash with option names {names}")
    params = [
        inspect.Parameter(
            leaf.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=leaf.default,
            annotation=leaf.annotation,
        )
        for leaf in leaves
    ]
    params.append(
        inspect.Parameter(
            CONFIG_OPTION,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                Path | None,
                typer.Option("--config", help="TOML file of these options (field names)."),
            ],
        )
    )
    params.append(
        inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    )

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        signed = inspect.signature(fn, eval_str=True).parameters.values()
        own = [p for p in signed if p.name != "config"]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            ctx, toml = kwargs.pop(CONTEXT), kwargs.pop(CONFIG_OPTION)
            given = _read_toml(toml, names) if toml is not None else {}
            values = {}
            for leaf in leaves:
                value = kwargs.pop(leaf.name)
                use_file = leaf.name in given and not _given(ctx, leaf.name)
                values[leaf.path] = given[leaf.name] if use_file else value
            try:
                config = _build(cls, values)
            except (TypeError, ValueError) as exc:
                raise typer.BadParameter(str(exc)) from None
            fn(**kwargs, config=config)

        signature = inspect.Signature([*own, *params])
        command.__signature__ = signature  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        return command

    return decorate
