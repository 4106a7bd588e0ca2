"""Fit the pattern-aware ensemble of trained runs and write its run directory.

The members are recommender runs (``medrec train gamenet|gbert``) and, with ``lr``, the
logistic-regression baseline fitted here on the same training split. Every member must come from
the same dataset, split and vocabularies (the ensemble is served with one vocabulary); the split
is the one recorded in the first run. On the validation split only: each member's Platt map
(:mod:`training.ensemble.calibration`), the global and per-pattern weights and the thresholds
(:mod:`training.ensemble.mixing`). The test split is scored once, at the end, for the report.

``RUN_DIR`` gets ``run.json`` (``model: ensemble``, the members with the sha256 of the files they
are served from), ``vocab.json``, ``ensemble.json`` (:class:`EnsembleSpec`), ``lr.npz`` (with
``lr``), ``metrics.json`` (the ablation table, validation and test apart) and ``report.md``.

Example::

    medrec train ensemble --data var/datasets/synthetic --members runs/gamenet --out runs/ens
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.contract.artifact import sha256_file
from training.baselines import med_targets, per_patient
from training.data.records import Patient
from training.data.splits import SplitConfig
from training.ensemble.calibration import fit_platt
from training.ensemble.config import TrainConfig
from training.ensemble.logistic import fit_lr_member
from training.ensemble.mixing import MixChoice, choose_mix, mix, stack_members
from training.ensemble.patterns import NUM_BUCKETS, bucket_names, code_median, visit_buckets
from training.ensemble.predictor import EnsembleSpec
from training.ensemble.report import write_report
from training.evaluate.predictor import Predictor
from training.evaluate.runs import load_run_predictor, read_run, run_data
from training.gamenet.data import PreparedData, prepare_data
from training.metrics import bootstrap_metrics, recommendation_metrics, tune_threshold
from training.provenance import git_sha, versions

logger = logging.getLogger(__name__)

MODEL_NAME = "ensemble"
LR_FILE = "lr.npz"
SPEC_FILE = "ensemble.json"


def train(
    data_dir: Path, member_runs: Sequence[Path], out_dir: Path, config: TrainConfig
) -> dict[str, Any]:
    """Fit the ensemble of ``member_runs`` (plus LR with ``config.lr``) and write ``out_dir``.

    Returns:
        The ``metrics.json`` content.

    Raises:
        FileExistsError: if ``out_dir`` already holds a run.
        FileNotFoundError: if a member is not a run directory.
        ValueError: for fewer than two members, or members of another dataset, split or
            vocabulary.
    """
    out_dir = Path(out_dir)
    if (out_dir / "run.json").exists():
        raise FileExistsError(f"{out_dir}: already holds a run (run.json)")
    if len(member_runs) + int(config.lr) < 2:
        raise ValueError("train ensemble: needs two members or more (--members, --lr)")
    runs = [read_run(Path(r)) for r in member_runs]
    nested = [
        str(r) for r, run in zip(member_runs, runs, strict=True) if run["model"] == MODEL_NAME
    ]
    if nested:
        raise ValueError(f"train ensemble: {nested[0]} is an ensemble; give its members instead")
    # The members' DDI table: the dataset's own ddi.csv, else the --ddi file a member recorded.
    recorded = [run_data(run).ddi_path for run in runs]
    ddi_path = next((p for p in recorded if p is not None), None)
    data = prepare_data(Path(data_dir), _split_of(member_runs[0], runs[0]), ddi_path)
    for run_dir, run in zip(member_runs, runs, strict=True):
        _check_member(Path(run_dir), run, data)
    members: list[Predictor] = [load_run_predictor(Path(r)) for r in member_runs]
    sources: list[dict[str, Any]] = [
        _run_source(Path(r), run) for r, run in zip(member_runs, runs, strict=True)
    ]
    if config.lr:
        lr = fit_lr_member(data.split.train, data.vocabs, seed=config.seed)
        members.append(lr)
        sources.append({"name": lr.name, "kind": "lr", "file": LR_FILE})
    names = _unique_names([m.name for m in members])
    for member, name in zip(members, names, strict=True):
        if tuple(member.med_vocab) != data.vocabs.med.tokens:
            raise ValueError(f"member {name}: its medication columns differ from the dataset's")
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.lr:
        lr.save(out_dir / LR_FILE)
    for source, name in zip(sources, names, strict=True):
        source["name"] = name
    spec, metrics = fit_and_score(members, names, data, config)
    _write_run(out_dir, Path(data_dir), ddi_path, data, config, sources, spec, metrics)
    return metrics


@dataclass(frozen=True)
class _Part:
    """One split's targets, visit buckets and member scores, visits of all patients in order."""

    patients: Sequence[Patient]
    true: list[np.ndarray]  # per patient, bool [V_p, M]
    buckets: np.ndarray  # [N]
    raw: np.ndarray  # [K, N, M] member probabilities
    calibrated: np.ndarray  # [K, N, M]

    @property
    def visit_weight(self) -> np.ndarray:
        """``[N]`` ``1 / (V_p P)``: the weights that make a visit mean the mean of patient means."""
        return np.concatenate([np.full(len(t), 1.0 / len(t)) for t in self.true]) / len(self.true)


def fit_and_score(
    members: Sequence[Predictor], names: Sequence[str], data: PreparedData, config: TrainConfig
) -> tuple[EnsembleSpec, dict[str, Any]]:
    """Fit calibration, weights and thresholds on validation; score every ablation on both splits.

    Returns:
        The fitted spec and the ``metrics.json`` content.
    """
    median = code_median(data.train)
    raw = {
        split: stack_members([m.predict(getattr(data.split, split)) for m in members])
        for split in ("val", "test")
    }
    val_true = np.concatenate(med_targets(data.split.val, data.vocabs.med)).astype(bool)
    calibration = tuple(fit_platt(p, val_true) for p in raw["val"])
    parts = {
        split: _Part(
            patients=getattr(data.split, split),
            true=med_targets(getattr(data.split, split), data.vocabs.med),
            buckets=np.concatenate(visit_buckets(getattr(data, split), median)),
            raw=raw[split],
            calibrated=np.stack([c.apply(p) for c, p in zip(calibration, raw[split], strict=True)]),
        )
        for split in ("val", "test")
    }
    val = parts["val"]
    choice = choose_mix(
        val.calibrated, val_true, val.buckets, NUM_BUCKETS, weight=val.visit_weight,
        step=config.grid_step, min_support=config.min_support,
    )  # fmt: skip
    per_pattern = mix(val.calibrated, choice.bucket_weights[val.buckets])
    threshold = tune_threshold(val.true, per_patient(per_pattern, val.patients))
    spec = EnsembleSpec(tuple(names), calibration, median, choice.bucket_weights, threshold)
    k = len(members)
    scorers: dict[str, Callable[[_Part], np.ndarray]] = {
        name: _member_scores(i) for i, name in enumerate(names)
    }
    scorers["uniform mean"] = lambda part: mix(part.calibrated, np.full(k, 1 / k))
    scorers["global weights"] = lambda part: mix(part.calibrated, choice.global_weights)
    scorers["per-pattern weights"] = lambda part: spec.combine(list(part.raw), part.buckets)
    rows = {name: _row(parts, data, config, score) for name, score in scorers.items()}
    metrics: dict[str, Any] = {
        "model": MODEL_NAME,
        "members": list(names),
        "rows": rows,
        "val": rows["per-pattern weights"]["val"],
        "test": rows["per-pattern weights"]["test"],
        "threshold": spec.threshold,
        "calibration": [asdict(c) for c in calibration],
        "buckets": _bucket_table(choice, parts["test"].buckets, names),
        "code_median": median,
        "train_config": asdict(config),
        "dataset": data.dataset,
        "ddi_source": data.ddi_source(),
        "synthetic": data.synthetic,
    }
    return spec, metrics


def _member_scores(index: int) -> Callable[[_Part], np.ndarray]:
    def score(part: _Part) -> np.ndarray:
        result: np.ndarray = part.calibrated[index]
        return result

    return score


def _row(
    parts: dict[str, _Part],
    data: PreparedData,
    config: TrainConfig,
    score: Callable[[_Part], np.ndarray],
) -> dict[str, Any]:
    """One ablation row: its threshold tuned on validation, then both splits at that threshold."""
    val = parts["val"]
    threshold = tune_threshold(val.true, per_patient(score(val), val.patients))
    row: dict[str, Any] = {"threshold": threshold}
    kw: dict[str, Any] = {"threshold": threshold, "ddi_adj": data.ddi_adj}
    for split, part in parts.items():
        prob = per_patient(score(part), part.patients)
        row[split] = bootstrap_metrics(
            part.true, prob, rounds=config.bootstrap_rounds, seed=config.seed, **kw
        )
        row[f"{split}_point"] = recommendation_metrics(part.true, prob, **kw)
    return row


def _bucket_table(
    choice: MixChoice, test_buckets: np.ndarray, names: Sequence[str]
) -> list[dict[str, Any]]:
    test_support = np.bincount(test_buckets, minlength=NUM_BUCKETS)
    return [
        {
            "bucket": label,
            "val_visits": int(choice.bucket_support[b]),
            "test_visits": int(test_support[b]),
            "own_weights": bool(choice.fitted_buckets[b]),
            "weights": dict(zip(names, map(float, choice.bucket_weights[b]), strict=True)),
        }
        for b, label in enumerate(bucket_names())
    ]


def _split_of(run_dir: Path, run: dict[str, Any]) -> SplitConfig:
    split = run_data(run).split
    if "method" not in split:
        raise ValueError(f"{run_dir / 'run.json'}: records no dataset split")
    return SplitConfig(method=split["method"], seed=split.get("seed") or 0)


def _check_member(run_dir: Path, run: dict[str, Any], data: PreparedData) -> None:
    """Refuse a member of another dataset, split or vocabulary (GAMENet's or G-BERT's layout)."""
    where = run_dir / "run.json"
    trained = run_data(run)
    if trained.fingerprint != data.dataset["fingerprint"]:
        raise ValueError(f"{where}: trained on another dataset (fingerprint differs)")
    ours = data.dataset["split"]["patient_ids_sha256"]
    if trained.split.get("patient_ids_sha256") != ours:
        raise ValueError(f"{where}: trained on another split of the dataset")
    # G-BERT keeps its vocabularies in run.json; GAMENet in a file beside it.
    vocab = run.get("vocab") or json.loads(
        (run_dir / run.get("vocab_file", "vocab.json")).read_text()
    )
    if vocab != data.vocabs.to_json():
        raise ValueError(f"{where}: its vocabularies differ from the training split's")


def _run_source(run_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    checkpoint = run_dir / run.get("checkpoint", "best.ckpt")
    return {
        "kind": "run",
        "model": run["model"],
        "run_dir": str(run_dir.resolve()),
        "checkpoint_sha256": sha256_file(checkpoint) if checkpoint.is_file() else None,
    }


def _unique_names(names: Sequence[str]) -> list[str]:
    """``[gamenet, gamenet, lr]`` → ``[gamenet, gamenet-2, lr]``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def _write_run(
    out_dir: Path,
    data_dir: Path,
    ddi_path: Path | None,
    data: PreparedData,
    config: TrainConfig,
    sources: list[dict[str, Any]],
    spec: EnsembleSpec,
    metrics: dict[str, Any],
) -> None:
    run = {
        "model": MODEL_NAME,
        "members": sources,
        "train_config": asdict(config),
        "seed": config.seed,
        "git_sha": git_sha(),
        "versions": versions(),
        "data_dir": str(data_dir),
        "ddi_path": None if ddi_path is None else str(ddi_path),
        "dataset": data.dataset,
        "synthetic": data.synthetic,
        "ddi_source": data.ddi_source(),
        "vocab_file": "vocab.json",
        "spec_file": SPEC_FILE,
    }
    (out_dir / "vocab.json").write_text(json.dumps(data.vocabs.to_json()) + "\n")
    (out_dir / SPEC_FILE).write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_report(out_dir / "report.md", metrics)
    (out_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    per = metrics["rows"]["per-pattern weights"]
    logger.info(
        "ensemble val jaccard %.4f, test %.4f (threshold %.2f); wrote %s",
        per["val_point"]["jaccard"],
        per["test_point"]["jaccard"],
        spec.threshold,
        out_dir,
    )
