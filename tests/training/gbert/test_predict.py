from dataclasses import replace

import numpy as np
import pytest

from training.data.dataset import Dataset
from training.gbert.predict import load_predictor


@pytest.mark.slow
def test_predictor_scores_every_visit_from_its_past_only(dataset, runs):
    root, _ = runs
    predictor = load_predictor(root / "ft")
    assert predictor.name == "gbert-dha-mor"
    m = len(predictor.med_vocab)
    patients = Dataset(dataset).load()[:12]
    probs = predictor.predict(patients)
    assert [p.shape for p in probs] == [(len(p.visits), m) for p in patients]
    assert all(((p >= 0) & (p <= 1)).all() for p in probs)
    long = next(p for p in patients if len(p.visits) >= 3)
    full = predictor.predict([long])[0]
    for t in range(len(long.visits)):
        # row t is the answer for the patient seen up to visit t, whatever follows
        cut = predictor.predict([replace(long, visits=long.visits[: t + 1])])[0]
        np.testing.assert_allclose(cut[-1], full[t], atol=1e-6)
    # visit t's own medications (the targets) never reach row t
    last = replace(long.visits[-1], medications=())
    hidden = predictor.predict([replace(long, visits=(*long.visits[:-1], last))])[0]
    np.testing.assert_allclose(hidden[-1], full[-1], atol=1e-6)
    # while the past medications do
    first = replace(long.visits[0], medications=())
    other = predictor.predict([replace(long, visits=(first, *long.visits[1:]))])[0]
    assert np.abs(other[1] - full[1]).max() > 1e-6
    assert predictor.predict([replace(long, visits=())])[0].shape == (0, m)


@pytest.mark.slow
def test_only_a_finetune_run_predicts(runs):
    root, _ = runs
    with pytest.raises(ValueError, match="finetune"):
        load_predictor(root / "pre")
