from __future__ import annotations

import pytest

from app.contract.manifest import recommender_specs


def test_recommender_specs_name_inputs_by_role_with_shared_dynamic_axes() -> None:
    inputs, [output] = recommender_specs(["diag_ids", "diag_mask", "med_history"], 7)
    assert [(t.name, t.role, t.dtype) for t in inputs] == [
        ("diag_ids", "diag_ids", "int64"),
        ("diag_mask", "diag_mask", "float32"),
        ("med_history", "med_history", "float32"),
    ]
    assert inputs[0].shape == inputs[1].shape == ["B", "V", "Cd"]
    assert inputs[2].shape == ["B", "V", 7]
    assert (output.role, output.shape) == ("probabilities", ["B", 7])


def test_recommender_specs_refuse_other_roles() -> None:
    with pytest.raises(ValueError, match="pairs"):
        recommender_specs(["diag_ids", "pairs"], 3)
