import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.errors import ActivationError
from app.inference.onnx import OrtOptions, open_session, read_manifest
from app.inference.pair_risk import GennPairRisk, PairRisk, UnknownDrug
from app.inference.registry import ModelRegistry
from tests.app.conftest import prepare
from tests.app.factories import write_pair_risk_artifact


def _scorer(path: Path) -> GennPairRisk:
    manifest = read_manifest(path)
    return GennPairRisk(manifest, open_session(path, manifest, manifest.onnx_sha256, OrtOptions()))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.training.genn.factories import tiny_run
    from training.export.runner import export_run

    tmp = tmp_path_factory.mktemp("pair_risk")
    export_run(tiny_run(tmp), tmp / "art")
    return tmp / "art"


@pytest.mark.slow
def test_predict_known_pairs_of_an_exported_genn(exported: Path) -> None:
    scorer = _scorer(exported)
    scorer.top_k = 2
    a, b, c = scorer.drugs[:3]
    results = scorer.predict([(a, b), (b, a), (a, c)])
    assert all(isinstance(r, PairRisk) for r in results)
    first, second = results[0], results[1]
    assert isinstance(first, PairRisk) and isinstance(second, PairRisk)
    assert (first.atc3_a, first.atc3_b) == (a, b)
    probs = scorer.type_probabilities(np.array([[0, 1]]))[0]
    assert first.risk == pytest.approx(1 - np.prod(1 - probs.astype(float)))
    assert first.risk == pytest.approx(second.risk)  # symmetric
    top = first.top_types
    assert len(top) == 2 and top[0].probability >= top[1].probability
    assert top[0].type in scorer.types


def test_unknown_and_same_drug_are_per_pair(tmp_path: Path) -> None:
    write_pair_risk_artifact(tmp_path / "genn")
    scorer = _scorer(tmp_path / "genn")
    a, b = scorer.drugs[:2]
    results = scorer.predict([("Z99Z", a), (a, "Y98Y"), ("Z99Z", "Y98Y"), (a, a), (a, b)])
    assert [type(r) for r in results] == [UnknownDrug] * 4 + [PairRisk]
    assert [r.drugs for r in results[:4] if isinstance(r, UnknownDrug)] == [
        ("Z99Z",),
        ("Y98Y",),
        ("Z99Z", "Y98Y"),
        (),
    ]
    assert isinstance(results[3], UnknownDrug) and results[3].reason == "same_drug"
    assert scorer.predict([]) == []


def test_malformed_or_foreign_genn_artifacts_are_activation_errors(tmp_path: Path) -> None:
    write_pair_risk_artifact(tmp_path / "genn")
    for name, change in [
        ("no-types", lambda m: m["vocab"].pop("types")),
        ("two-outputs", lambda m: m["outputs"].append(m["outputs"][0])),
    ]:
        bad = tmp_path / name
        shutil.copytree(tmp_path / "genn", bad)
        manifest = json.loads((bad / "manifest.json").read_text())
        change(manifest)
        (bad / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ActivationError):
            prepare(ModelRegistry(), bad)
