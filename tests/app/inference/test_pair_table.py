import itertools
from pathlib import Path

import numpy as np
import pytest

from app.errors import ArtifactError
from app.inference.pair_risk import PairRisk, TypeScore, UnknownDrug
from app.inference.pair_table import MAX_DRUGS, tabulate
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import MEDS, write_pair_risk_artifact


class _Counting:
    """A pair model that answers (a, b) with a risk from the drug names and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, pairs: list[tuple[str, str]]) -> list[PairRisk | UnknownDrug]:
        self.calls += 1
        return [
            UnknownDrug(a, b, ("C09A",))
            if "C09A" in (a, b)
            else PairRisk(a, b, (ord(a[0]) + ord(b[0])) / 1000, (TypeScore(min(a, b), 0.5),))
            for a, b in pairs
        ]


def test_the_table_answers_as_the_model_does_by_lookup() -> None:
    model = _Counting()
    table = tabulate(model, MEDS)
    calls = model.calls
    pairs = [(a, b) for a in MEDS for b in MEDS if a != b and "C09A" not in (a, b)]
    assert table.predict(pairs) == model.predict(pairs)  # either order: symmetric
    assert model.calls == calls + 1  # the lookups did not call the model
    risks = table.risks([("A02B", "B01A"), ("A02B", "C09A"), ("A02B", "A02B"), ("Z99Z", "A02B")])
    assert risks[0] == pytest.approx((ord("A") + ord("B")) / 1000)
    assert np.isnan(risks[1:]).all()
    drugs = ["A02B", "B01A", "C09A", "Z99Z"]
    among = table.risks_among(drugs)  # every pair, in combinations order
    expected = table.risks(list(itertools.combinations(drugs, 2)))
    np.testing.assert_array_equal(among, expected)
    assert among[0] == risks[0] and np.isnan(among).sum() == 5
    [unknown, same, not_scored] = table.predict(
        [("Z99Z", "A02B"), ("B01A", "B01A"), ("A02B", "C09A")]
    )
    assert isinstance(unknown, UnknownDrug) and unknown.drugs == ("Z99Z",)
    assert isinstance(same, UnknownDrug) and same.reason == "same_drug"
    assert isinstance(not_scored, UnknownDrug) and not_scored.reason == "not_scored"


def test_the_registry_keeps_a_genn_as_its_table(tmp_path: Path) -> None:
    write_pair_risk_artifact(tmp_path / "genn")
    table = prepare(ModelRegistry(), tmp_path / "genn").pair_risk
    assert table is not None and table.drugs == tuple(MEDS)
    assert table.risk.shape == (len(MEDS), len(MEDS)) and np.isnan(np.diag(table.risk)).all()
    assert np.allclose(table.risk, table.risk.T, equal_nan=True)


def test_a_vocabulary_over_the_cap_is_refused() -> None:
    with pytest.raises(ArtifactError, match="at most"):
        tabulate(_Counting(), [f"D{i:03d}" for i in range(MAX_DRUGS + 1)])
