import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.inference.pair_risk import GennPairRisk, PairRiskArtifactError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.training.genn.factories import tiny_run
    from training.export.runner import export_run

    tmp = tmp_path_factory.mktemp("pair_risk")
    export_run(tiny_run(tmp), tmp / "art")
    return tmp / "art"


def test_predict_known_pairs(artifact: Path) -> None:
    scorer = GennPairRisk(artifact, top_k=2)
    a, b, c = scorer.drugs[:3]
    results = scorer.predict([(a, b), (b, a), (a, c)])
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert (results[0].drug_a, results[0].drug_b) == (a, b)
    probs = scorer.type_probabilities(np.array([[0, 1]]))[0]
    assert results[0].predicted_risk == pytest.approx(1 - np.prod(1 - probs.astype(float)))
    assert results[0].predicted_risk == pytest.approx(results[1].predicted_risk)  # symmetric
    top = results[0].top_types
    assert len(top) == 2 and top[0].probability >= top[1].probability
    assert top[0].name in scorer.types
    assert scorer.name == "genn" and scorer.version == 1


def test_unknown_and_same_drug_are_per_pair(artifact: Path) -> None:
    scorer = GennPairRisk(artifact)
    a, b = scorer.drugs[:2]
    results = scorer.predict([("Z99Z", a), (a, "Y98Y"), ("Z99Z", "Y98Y"), (a, a), (a, b)])
    assert [r.status for r in results] == [
        "unknown_drug",
        "unknown_drug",
        "unknown_drug",
        "same_drug",
        "ok",
    ]
    assert [r.unknown for r in results[:3]] == [("a",), ("b",), ("a", "b")]
    assert results[0].predicted_risk is None and results[0].top_types == ()
    assert scorer.predict([]) == []


def test_rejects_tampered_or_foreign_artifacts(artifact: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(artifact, bad)
    with open(bad / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(PairRiskArtifactError, match="sha256"):
        GennPairRisk(bad)
    other = tmp_path / "other"
    shutil.copytree(artifact, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["name"] = "gamenet"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PairRiskArtifactError, match="not genn"):
        GennPairRisk(other)
    with pytest.raises(PairRiskArtifactError, match="missing"):
        GennPairRisk(tmp_path / "nowhere")


def test_build_pair_risk_speaks_the_service_contract(artifact: Path) -> None:
    import onnxruntime as ort

    from app.contract.manifest import Manifest
    from app.inference import pairs as contract
    from app.inference.pair_risk import build_pair_risk

    manifest = Manifest.model_validate_json((artifact / "manifest.json").read_text())
    session = ort.InferenceSession(str(artifact / "model.onnx"))
    predictor = build_pair_risk(manifest, session)
    a, b = manifest.vocab["drug"][:2]
    risk, unknown = predictor.predict([(a, b), (a, "Z99Z")])
    assert isinstance(risk, contract.PairRisk) and 0.0 <= risk.risk <= 1.0
    assert risk.top_types and isinstance(risk.top_types[0], contract.TypeScore)
    assert isinstance(unknown, contract.UnknownDrug) and unknown.drugs == ("Z99Z",)
