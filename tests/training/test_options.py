from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pytest
import typer
from typer.testing import CliRunner

from training.options import config_options, field_help


@dataclass(frozen=True)
class _Inner:
    """Inner.

    Args:
        lr: learning rate.
        seed: replaced by the outer one.
    """

    lr: float = 0.1
    seed: int = 1


@dataclass(frozen=True)
class _Config:
    """A config.

    Args:
        epochs: passes over the data,
            continued here.
        mode, split: two options.
        inner: nested settings.
    """

    epochs: int = 3
    mode: Literal["a", "b"] = "a"
    split: str = "x"
    inner: _Inner = field(default_factory=_Inner)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("_Config: epochs must be >= 1")


def _app(seen: list[_Config]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @config_options(_Config, exclude=("inner.seed",))
    def run(
        out: Annotated[Path, typer.Option(help="Where.")],
        *,
        config: _Config,
    ) -> None:
        seen.append(config)

    return app


def test_field_help_reads_the_args_section() -> None:
    helps = field_help(_Config)
    assert helps["epochs"] == "passes over the data, continued here."
    assert helps["mode"] == helps["split"] == "two options."


def test_options_come_from_the_config_with_its_defaults() -> None:
    seen: list[_Config] = []
    result = CliRunner().invoke(_app(seen), ["--out", "o", "--mode", "b", "--lr", "0.5"])
    assert result.exit_code == 0, result.output
    assert seen == [_Config(mode="b", inner=_Inner(lr=0.5))]
    help_text = CliRunner().invoke(_app(seen), ["--help"]).output
    assert "--epochs" in help_text and "--seed" not in help_text


def test_toml_values_yield_to_given_options(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = 7\nsplit = "y"\nlr = 0.2\n')
    seen: list[_Config] = []
    args = ["--out", "o", "--config", str(toml), "--split", "z"]
    result = CliRunner().invoke(_app(seen), args)
    assert result.exit_code == 0, result.output
    assert seen == [_Config(epochs=7, split="z", inner=_Inner(lr=0.2))]


@pytest.mark.parametrize(
    ("toml", "args", "message"),
    [
        ("nope = 1\n", [], "unknown keys ['nope']"),
        ("seed = 1\n", [], "unknown keys ['seed']"),
        ("", ["--epochs", "0"], "epochs must be >= 1"),
        ("", ["--mode", "c"], "'c' is not one of"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, toml: str, args: list[str], message: str):
    (tmp_path / "c.toml").write_text(toml)
    base = ["--out", "o", "--config", str(tmp_path / "c.toml")]
    result = CliRunner().invoke(_app([]), [*base, *args])
    assert result.exit_code == 2 and message in _plain(result.output)


def _plain(output: str) -> str:
    """The words of a CLI answer, without rich's error box or its line wrapping."""
    return " ".join(output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
