"""GAMENet reference parity: the official code beside MedRec, on the same data and split.

Runs, one after the other on the same literature-format dataset and the literature split (file
order: 2/3 train, 1/6 test, 1/6 validation; selection on validation, report on test):

1. the official code (``sjy1203/GAMENet`` ``code/``, ``--reference-repo``), its own training loop
   (``train_GAMENet.py --ddi``), in a temp dir;
2. MedRec in ``reference`` mode (one Adam step per visit) and in ``batched`` mode, or any
   ``--runs`` variants (``mode+field=value+...`` over :class:`TrainConfig`, e.g.
   ``batched+graph_norm=row``), through ``train_gamenet`` as ``medrec train gamenet`` runs it.

For each system it records the per-epoch validation Jaccard (MedRec's ``training/metrics.py``
applied to every system's validation probabilities), the test metrics of the checkpoint with the
best validation Jaccard (the same metric code), wall and CPU time, training time to the best
validation Jaccard, and training time to reach the official code's best validation Jaccard. It
writes ``bench/results/gamenet_reference[-TAG].json`` and a PNG of the curves beside it.

Data: ``--data DIR`` takes any literature-format dataset (``records.json``, ``vocab.json``,
``ddi_adj.json``: see ``training/data/literature.py``); without it a MIMIC-size synthetic one
(``--patients``, default 6,350) is generated with ``training.data.synth`` and converted. The
conversion drops visits with no diagnosis, no procedure or no medication (the official code's
mean of an empty embedding list is NaN; the literature preprocessing keeps only such visits) and
builds the vocabularies over all records in order of first use, as the literature files do.

Shims applied to the official code (to a copy in the temp dir; the reference folder is never
modified, and nothing of it enters this repository):

- ``torch.device('cuda:0')`` → ``torch.device('cpu')`` in ``train_GAMENet.py`` (text patch);
- ``EPOCH = 40`` → ``EPOCH = <--epochs>`` in ``train_GAMENet.py`` (text patch);
- ``sklearn.metrics.jaccard_similarity_score`` (removed from sklearn) is aliased to
  ``jaccard_score`` before ``util.py`` imports it (it is imported, never called);
- ``dnc`` (needed only by the DMNC baseline in ``models.py``) is an empty stand-in module;
- ``pandas`` (imported, never used by the GAMENet path of ``util.py``) is an empty stand-in
  module when it is not installed;
- ``dill`` is the standard ``pickle`` module when ``dill`` is not installed (same ``load`` /
  ``dump`` API; the files are plain pickles the harness itself wrote);
- the pickles the code reads (``records_final.pkl``, ``voc_final.pkl`` with ``idx2word`` /
  ``word2idx`` as ``types.SimpleNamespace``, ``ehr_adj_final.pkl`` over all records as the
  official preprocessing builds it, ``ddi_A_final.pkl``) are written by the harness from the
  JSON dataset into the temp dir's ``data/``;
- ``eval`` is wrapped: before the official ``eval`` runs (unchanged) on the validation split, the
  wrapper runs the same eval-mode prefix forward and saves the probabilities (``.npy``) and the
  time, so MedRec's metric code scores them; eval mode draws no random numbers, so training is
  unchanged;
- after training, the checkpoint of the official selection rule (``epoch != 0 and best_ja < ja``;
  epoch 0 when only one epoch ran) is loaded and run on the test split, as its ``--eval`` mode.

MedRec builds its EHR graph from the training split only (the official code uses all records);
that honest difference is kept.

    OMP_NUM_THREADS=1 python bench/gamenet_reference.py --epochs 3
    OMP_NUM_THREADS=1 python bench/gamenet_reference.py --skip-official --epochs 40 \\
        --runs batched batched+graph_norm=row --tag ablation
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's MedRec, not another installed copy
RESULTS = ROOT / "bench" / "results"
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "gamenet-official"
METRICS = ("jaccard", "prauc", "f1", "ddi_rate", "avg_meds")


# ---------------------------------------------------------------- data


def synthetic_literature(out: Path, patients: int, seed: int) -> Path:
    """Write a synthetic cohort as ``records.json``, ``vocab.json``, ``ddi_adj.json``."""
    from training.data.synth import SynthConfig, generate_patients, synthetic_ddi_table

    config = SynthConfig(patients=patients, seed=seed)
    index: dict[str, dict[str, int]] = {"diag": {}, "proc": {}, "med": {}}

    def ids(kind: str, codes: Any) -> list[int]:
        table = index[kind]
        return [table.setdefault(c, len(table)) for c in codes]

    records, dropped = [], 0
    for patient in generate_patients(config):
        visits = []
        for v in patient.visits:
            if not (v.diagnoses and v.procedures and v.medications):
                dropped += 1
                continue
            visits.append(
                [
                    ids("diag", [c.code for c in v.diagnoses]),
                    ids("proc", [c.code for c in v.procedures]),
                    ids("med", list(v.medications)),
                ]
            )
        if visits:
            records.append(visits)
    meds = index["med"]
    pairs = sorted(
        {
            tuple(sorted((meds[p.atc3_a], meds[p.atc3_b])))
            for p in synthetic_ddi_table(config).pairs
            if p.atc3_a in meds and p.atc3_b in meds
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "records.json").write_text(json.dumps(records))
    (out / "vocab.json").write_text(json.dumps({k: list(v) for k, v in index.items()}))
    (out / "ddi_adj.json").write_text(json.dumps([list(p) for p in pairs]))
    print(f"synthetic: {len(records)} patients, {dropped} visits without a code kind dropped")
    return out


def load_literature(data: Path) -> tuple[list[Any], dict[str, list[str]], np.ndarray]:
    """Records, vocab and the symmetric ``[M, M]`` DDI matrix of a literature dataset (JSON)."""
    records = json.loads((data / "records.json").read_text())
    vocab = json.loads((data / "vocab.json").read_text())
    m = len(vocab["med"])
    ddi = np.zeros((m, m))
    for i, j in json.loads((data / "ddi_adj.json").read_text()):
        ddi[i, j] = ddi[j, i] = 1.0
    return records, vocab, ddi


def literature_split(records: list[Any]) -> dict[str, list[Any]]:
    """The official split: file order, 2/3 train, then test, then validation."""
    cut = int(len(records) * 2 / 3)
    half = int(len(records[cut:]) / 2)
    return {
        "train": records[:cut],
        "test": records[cut : cut + half],
        "val": records[cut + half :],
    }


def truth(patients: list[Any], m: int) -> list[np.ndarray]:
    out = []
    for p in patients:
        y = np.zeros((len(p), m), dtype=bool)
        for t, visit in enumerate(p):
            y[t, visit[2]] = True
        out.append(y)
    return out


# ---------------------------------------------------------------- the official code

_RUNNER = r"""
import json, os, sys, time, types, glob
import numpy as np
import torch  # before the dill shim: torch probes dill itself
import sklearn.metrics
sklearn.metrics.jaccard_similarity_score = sklearn.metrics.jaccard_score  # shim: removed
sys.modules["dnc"] = types.ModuleType("dnc")  # shim: only the DMNC baseline uses DNC
sys.modules["dnc"].DNC = None
try:
    import pandas  # noqa: F401
    stub_pandas = False
except ImportError:  # shim: util.py imports pandas, never uses it; removed once imported
    sys.modules["pandas"], stub_pandas = types.ModuleType("pandas"), True
try:
    import dill  # noqa: F401
except ImportError:
    import pickle
    sys.modules["dill"] = pickle  # shim: same load/dump API
sys.argv = ["train_GAMENet.py", "--ddi"]
import train_GAMENet as tg
if stub_pandas:
    del sys.modules["pandas"]  # others (sklearn, torch) probe sys.modules for pandas

OUT = os.environ["HARNESS_OUT"]
state = {"epoch": 0, "mark": time.perf_counter(), "train": 0.0, "cpu_mark": time.process_time(),
         "cpu_train": 0.0}
log = []

def probs(model, patients):
    model.eval()
    out = []
    with torch.no_grad():
        for p in patients:
            out.append(np.stack([torch.sigmoid(model(p[: t + 1])).numpy()[0]
                                 for t in range(len(p))]).astype(np.float32))
    return out

def save(name, arrays):
    np.save(os.path.join(OUT, name), np.concatenate(arrays), allow_pickle=False)

original_eval = tg.eval
def wrapped_eval(model, data_eval, voc_size, epoch):
    now, cpu = time.perf_counter(), time.process_time()
    state["train"] += now - state["mark"]
    state["cpu_train"] += cpu - state["cpu_mark"]
    save("val_epoch%d.npy" % epoch, probs(model, data_eval))
    result = original_eval(model, data_eval, voc_size, epoch)
    log.append({"epoch": epoch + 1, "cumulative_train_seconds": state["train"],
                "cumulative_train_cpu_seconds": state["cpu_train"],
                "official_val_jaccard": float(result[1]), "official_val_ddi": float(result[0])})
    json.dump(log, open(os.path.join(OUT, "history.json"), "w"))
    state["mark"], state["cpu_mark"] = time.perf_counter(), time.process_time()
    return result
tg.eval = wrapped_eval
tg.main()

# the official selection rule (main's best_epoch), then its --eval on the test split
best_epoch, best_ja = 0, 0
for row in log:
    e = row["epoch"] - 1
    if e != 0 and best_ja < row["official_val_jaccard"]:
        best_epoch, best_ja = e, row["official_val_jaccard"]
data = tg.dill.load(open("../data/records_final.pkl", "rb"))
split = int(len(data) * 2 / 3)
half = int(len(data[split:]) / 2)
voc = tg.dill.load(open("../data/voc_final.pkl", "rb"))
sizes = (len(voc["diag_voc"].idx2word), len(voc["pro_voc"].idx2word), len(voc["med_voc"].idx2word))
model = tg.GAMENet(sizes, tg.dill.load(open("../data/ehr_adj_final.pkl", "rb")),
                   tg.dill.load(open("../data/ddi_A_final.pkl", "rb")), emb_dim=64,
                   device=torch.device("cpu"), ddi_in_memory=True)
path, = glob.glob(os.path.join("saved", "GAMENet", "Epoch_%d_JA_*.model" % best_epoch))
model.load_state_dict(torch.load(path, map_location="cpu"))
save("test.npy", probs(model, data[split: split + half]))
with open(os.path.join(OUT, "history.json"), "w") as fh:
    json.dump({"best_epoch": best_epoch + 1, "history": log}, fh)
"""


def write_official_inputs(
    data_dir: Path, records: list[Any], vocab: dict[str, list[str]], ddi: np.ndarray
) -> None:
    """The four pickles ``train_GAMENet.py`` reads, written from the JSON dataset."""
    from types import SimpleNamespace

    def voc(words: list[str]) -> SimpleNamespace:
        return SimpleNamespace(
            idx2word=dict(enumerate(words)), word2idx={w: i for i, w in enumerate(words)}
        )

    m = len(vocab["med"])
    ehr = np.zeros((m, m))  # the official EDA: every record, no diagonal
    for patient in records:
        for visit in patient:
            meds = visit[2]
            for a in meds:
                for b in meds:
                    if a != b:
                        ehr[a, b] = 1.0
    data_dir.mkdir(parents=True)
    files = {
        "records_final.pkl": records,
        "voc_final.pkl": {
            "diag_voc": voc(vocab["diag"]),
            "pro_voc": voc(vocab["proc"]),
            "med_voc": voc(vocab["med"]),
        },
        "ehr_adj_final.pkl": ehr,
        "ddi_A_final.pkl": ddi,
    }
    for name, obj in files.items():
        with open(data_dir / name, "wb") as fh:
            pickle.dump(obj, fh)


def run_official(reference: Path, data: Path, epochs: int, work: Path) -> dict[str, Any]:
    """Run the official training in ``work`` and return its history, probabilities and times."""
    records, vocab, ddi = load_literature(data)
    code = work / "code"
    shutil.copytree(reference / "code", code)
    script = code / "train_GAMENet.py"
    text = script.read_text()
    for old, new in (
        ("torch.device('cuda:0')", "torch.device('cpu')"),
        ("EPOCH = 40", f"EPOCH = {epochs}"),
    ):
        if old not in text:
            raise SystemExit(f"{script}: expected {old!r} (is this sjy1203/GAMENet code/?)")
        text = text.replace(old, new)
    script.write_text(text)
    (code / "_harness_run.py").write_text(_RUNNER)
    write_official_inputs(work / "data", records, vocab, ddi)
    out = work / "out"
    out.mkdir()
    env = {**os.environ, "HARNESS_OUT": str(out), "PYTHONWARNINGS": "ignore"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    log = (work / "official.log").open("w")
    proc = subprocess.run(
        [sys.executable, "_harness_run.py"], cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (work / "official.log").read_text()[-3000:]
        raise SystemExit(f"official code failed (rc {proc.returncode}):\n{tail}")
    hist = json.loads((out / "history.json").read_text())
    split = literature_split(records)
    m = len(vocab["med"])

    def per_patient(flat: np.ndarray, patients: list[Any]) -> list[np.ndarray]:
        bounds = np.cumsum([len(p) for p in patients])[:-1]
        return list(np.split(flat, bounds))

    val = [
        per_patient(np.load(out / f"val_epoch{e}.npy", allow_pickle=False), split["val"])
        for e in range(epochs)
    ]
    test = per_patient(np.load(out / "test.npy", allow_pickle=False), split["test"])
    return {
        "history": hist["history"],
        "best_epoch": hist["best_epoch"],
        "val_probs": val,
        "test_probs": test,
        "val_true": truth(split["val"], m),
        "test_true": truth(split["test"], m),
        "ddi": ddi,
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def official_row(result: dict[str, Any], threshold: float = 0.5) -> dict[str, Any]:
    """Score the official probabilities with MedRec's metric code."""
    from training.metrics import recommendation_metrics

    kw = {"threshold": threshold, "ddi_adj": result["ddi"]}
    history = []
    for row, val in zip(result["history"], result["val_probs"], strict=True):
        metrics = recommendation_metrics(result["val_true"], val, **kw)
        history.append({**row, **{f"val_{k}": v for k, v in metrics.items()}})
    return {
        "system": "official",
        "test": recommendation_metrics(result["test_true"], result["test_probs"], **kw),
        "best_epoch": result["best_epoch"],
        "history": history,
        "wall_seconds": result["wall_seconds"],
        "cpu_seconds": result["cpu_seconds"],
    }


# ---------------------------------------------------------------- MedRec


def parse_run(spec: str, epochs: int, seed: int) -> Any:
    """``batched+graph_norm=row+lr=1e-3`` → a TrainConfig (values typed by the field default)."""
    from training.gamenet.config import TrainConfig

    mode, *overrides = spec.split("+")
    config = TrainConfig(mode=mode, epochs=epochs, split="literature", seed=seed)  # type: ignore[arg-type]
    kinds = {f.name: f for f in fields(TrainConfig)}
    values: dict[str, Any] = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        if key not in kinds:
            raise SystemExit(f"--runs {spec}: unknown TrainConfig field {key!r}")
        current = getattr(config, key)
        if raw == "None":
            values[key] = None
        elif isinstance(current, bool):
            values[key] = raw.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            values[key] = int(raw)
        elif isinstance(current, float) or key in ("lr", "grad_clip"):
            values[key] = float(raw)
        else:
            values[key] = raw
    return replace(config, **values)


def run_medrec(spec: str, dataset: Path, work: Path, epochs: int, seed: int) -> dict[str, Any]:
    """Train one MedRec configuration as ``medrec train gamenet`` does; return its row."""
    from training.gamenet.run import train_gamenet

    config = parse_run(spec, epochs, seed)
    out = work / f"run-{len(list(work.glob('run-*')))}"
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    metrics = train_gamenet(dataset, out, config, show_progress=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_train = 0.0
    for row in metrics["history"]:
        cpu_train += row["train_cpu_seconds"]
        row["cumulative_train_cpu_seconds"] = cpu_train
    return {
        "system": f"medrec {spec}",
        "train_config": metrics["train_config"],
        "test": metrics["test_point"],
        "best_epoch": metrics["best_epoch"],
        "history": metrics["history"],
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "unknown_test_meds": metrics["unknown_codes"]["test"]["med"],
    }


# ---------------------------------------------------------------- report


def add_times(row: dict[str, Any], target: float | None) -> None:
    """Training time to the best val Jaccard and to ``target`` (the official best), if reached."""
    hist = row["history"]
    best = max(hist, key=lambda r: r["val_jaccard"])
    row["best_val_jaccard"] = best["val_jaccard"]
    row["train_seconds_to_best"] = best["cumulative_train_seconds"]
    row["train_cpu_seconds_to_best"] = best["cumulative_train_cpu_seconds"]
    row["train_seconds_to_official_best"] = None
    if target is not None:
        reached = [r for r in hist if r["val_jaccard"] >= target]
        if reached:
            row["train_seconds_to_official_best"] = reached[0]["cumulative_train_seconds"]


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'system':44s} {'jaccard':>7s} {'prauc':>7s} {'f1':>7s} {'ddi':>7s} {'meds':>5s} "
        f"{'best':>4s} {'val_ja':>7s} {'wall_s':>7s} {'cpu_s':>7s} {'t_best':>7s} {'t_off':>7s}"
    )
    print(head)
    for r in rows:
        t = r["test"]
        off = r["train_seconds_to_official_best"]
        print(
            f"{r['system'][:44]:44s} {t['jaccard']:7.4f} {t['prauc']:7.4f} {t['f1']:7.4f} "
            f"{t['ddi_rate']:7.4f} {t['avg_meds']:5.1f} {r['best_epoch']:4d} "
            f"{r['best_val_jaccard']:7.4f} {r['wall_seconds']:7.1f} {r['cpu_seconds']:7.1f} "
            f"{r['train_seconds_to_best']:7.1f} {'-' if off is None else f'{off:7.1f}':>7s}"
        )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in rows:
        epochs = [h["epoch"] for h in r["history"]]
        ja = [h["val_jaccard"] for h in r["history"]]
        secs = [h["cumulative_train_seconds"] for h in r["history"]]
        a.plot(epochs, ja, marker="o", ms=3, label=r["system"])
        b.plot(secs, ja, marker="o", ms=3, label=r["system"])
    a.set_xlabel("epoch")
    b.set_xlabel("training wall seconds (validation excluded)")
    b.set_xscale("log")
    for ax in (a, b):
        ax.set_ylabel("validation Jaccard")
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    fig.suptitle("GAMENet: official code vs MedRec (validation Jaccard, MedRec metric code)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-repo", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--data", type=Path, help="a literature-format dataset directory")
    parser.add_argument("--patients", type=int, default=6350, help="synthetic patients")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--official-epochs", type=int, help="default: --epochs")
    parser.add_argument("--seed", type=int, default=0, help="MedRec's seed")
    parser.add_argument("--runs", nargs="*", default=["reference", "batched"])
    parser.add_argument("--skip-official", action="store_true")
    parser.add_argument("--official-best", type=float, help="target val Jaccard if skipped")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    from training.data.literature import ingest_literature

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gamenet-ref-") as tmp:
        work = Path(tmp)
        data = args.data or synthetic_literature(work / "lit", args.patients, args.data_seed)
        records, vocab, ddi = load_literature(data)
        split = literature_split(records)
        gt = [np.asarray(v[2]) for p in split["test"] for v in p]
        from training.metrics import ddi_rate

        info = {
            "data": str(args.data)
            if args.data
            else f"synthetic {args.patients} (seed {args.data_seed})",
            "patients": len(records),
            "visits": sum(len(p) for p in records),
            "meds": len(vocab["med"]),
            "ddi_pairs": int(ddi.sum() // 2),
            "test_patients": len(split["test"]),
            "test_ground_truth_ddi_rate": ddi_rate(gt, ddi),
        }
        print(json.dumps(info))
        target = args.official_best
        if not args.skip_official:
            ref = args.reference_repo.resolve()
            epochs = args.official_epochs or args.epochs
            print(f"official code from {ref}, {epochs} epochs ...", flush=True)
            official = official_row(run_official(ref, data, epochs, work / "official"))
            add_times(official, None)
            target = official["best_val_jaccard"]
            rows.append(official)
        dataset = work / "dataset"
        ingest_literature(data, dataset)
        for spec in args.runs:
            print(f"medrec {spec} ...", flush=True)
            rows.append(run_medrec(spec, dataset, work, args.epochs, args.seed))
        for r in rows:
            add_times(r, target)
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "gamenet_reference" + (f"-{args.tag}" if args.tag else "")
    result = {
        "dataset": info,
        "epochs": args.epochs,
        "official_best_val_jaccard": target,
        "rows": rows,
        "argv": sys.argv[1:],
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / name}.json and .png")


if __name__ == "__main__":
    main()
