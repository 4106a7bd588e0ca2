from __future__ import annotations

from pathlib import Path

import pytest

from app.plugins import TrainingNotInstalled, load_entry_point


def test_an_installed_entry_point_is_loaded_by_name() -> None:
    assert load_entry_point("app.contract.names:INPUT_FORMATS")[0] == "mimic3"


def test_a_missing_training_side_names_the_extra() -> None:
    with pytest.raises(TrainingNotInstalled, match=r"pip install 'medrec\[train\]'"):
        load_entry_point("training.no_such_module:Toolkit")


def test_other_missing_imports_are_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        load_entry_point("broken_plugin:thing")
