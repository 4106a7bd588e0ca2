"""G-BERT reference parity: the official code and MedRec, layer by layer, on the same weights.

The official code (``jshang123/G-Bert`` ``code/``, ``--reference-repo``) pins PyG 1.0.3 and
trains on MIMIC-III pickles, so it is not trained here: its models are built in a temp dir (with
the shims below) on a tiny synthetic cohort (``training.data.synth``), and MedRec's
``GBertRecommender`` / ``GBertPretrain``, built through their public classes, get the *same*
weights (the explicit key-by-key ``mapping()`` of ``bench/gbert_reference_medrec.py``, written to
the JSON) and the same code hierarchy (the official trees, as MedRec ``CodeGraph`` s). Both run
in eval mode; every stage's max abs difference is printed and written to
``bench/results/gbert_reference[-TAG].json``:

- the GAT leaf embeddings of each ontology; the token + type embeddings (input of block 0);
- each transformer block's output (real positions: [CLS] and the codes), dx and rx apart;
- the [CLS] pooled output; the fine-tuning logits of every visit the official code predicts
  (visits 2.. of multi-visit patients) and its BCE loss;
- the four pre-training heads' logits (dx→dx, rx→dx, dx→rx, rx→rx) and the official loss (sum of
  four BCE means); MedRec's ``pretrain_loss`` with no masked-code targets is that same sum;
- a leak probe: how much the prediction of visit t moves when only the medications of visit t
  itself, or of the visits after it, change (a recommender must see neither).

The official code runs once as it is (``official``), once with every documented difference
(:data:`FIXES`) neutralised on the official side (``aligned``; every stage must match MedRec
there) and once per difference with all the others neutralised (``aligned-without-X``): the
stages a difference changes are exactly those that then differ, and :data:`EFFECTS` declares
them (anything else is reported as ``unexpected``). The code hierarchies themselves are compared
by structure (MedRec's ``training/gbert/ontology.py`` trees vs the official ``build_tree.py``).
MedRec's models are built with ``mask_cls_key=True``, the official [CLS]-key masking; MedRec's
default lets [CLS] read itself (``GBertConfig.mask_cls_key`` gives the measured reason).

Shims (on a copy in the temp dir; the reference folder is never modified, none of it enters this
repository):

- ``graph_models.py``: ``from torch_geometric.utils import scatter_, softmax, add_self_loops`` is
  rewritten to import a harness module with PyG 1.0.3's signatures on current PyG:
  ``scatter_(name, src, index, dim_size)`` (``utils.scatter``, ``add`` → ``sum``),
  ``softmax(src, index, num_nodes)`` (current ``softmax`` with ``num_nodes`` by keyword; the
  positional third argument is ``ptr`` now) and ``add_self_loops(edge_index, num_nodes)``
  (returns the edge index alone, as 1.0.3 did);
- ``inspect.getargspec`` (removed in Python 3.11) is ``inspect.getfullargspec`` (``[0]`` is the
  argument list in both);
- ``sklearn.metrics.jaccard_similarity_score`` (removed) is aliased to ``jaccard_score``;
  ``pandas``, ``tensorboardX`` (imported at module level by the run scripts, unused here) are
  empty stand-ins when absent; ``dill`` is ``pickle`` when absent (never used to load here);
- the run scripts' ``EHRTokenizer`` reads vocabulary text files the harness writes; their
  ``EHRDataset.__getitem__`` builds the inputs (the ``pandas`` loading of ``__init__`` is
  skipped: the harness sets ``records`` / ``admissions``); pre-training's ``random_word`` is
  replaced by a deterministic one that turns each set's first code into ``[MASK]``;
- weights: the official init (seed 0), then seeded N(0, 0.02) noise on every parameter, so that
  zero biases and unit LayerNorm gains cannot hide a mapping error. Every run loads them.

Training differences visible in the code (not exercised here: eval mode, no training):

=====================  ==============================================  ===========================
                       official (``run_pretraining.py``, ``run_gbert``)  MedRec (``training/gbert``)
=====================  ==============================================  ===========================
optimiser              Adam lr 5e-4, no weight decay (BertAdam with    Adam lr 5e-4, no weight
                       warmup 0.1 and decay 0.01 is commented out)     decay, no warmup
gradient clipping      none                                            norm 1.0 (``steps.py``)
schedule               ``run_alternative.sh``: 5 pre-train + 5 fine-   one pre-training, (DHA,)
                       tune epochs, then 15 more rounds: 80 + 80; each  one fine-tuning; default 5
                       round re-initialises the heads (only ``bert.*``  epochs a stage
                       carries over, seed 1203)
batch                  pre-train 64 visits; fine-tune 1 patient        64 visits; 64 patients
pre-training data      every single-visit patient (all splits) + the   every visit of the train
                       multi-visit train patients                      patients
pre-training loss      4 BCE from [CLS] on 15%-noised inputs; the      4 BCE + cross-entropy of
                       random replacement draws from the *other* kind  the masked codes (MLM
                       (``random_word(adm[0], rx_voc)``); no MLM loss  heads), same-kind draws
fine-tuning data       patients with >= 2 visits; visits 2..           every patient and visit
                                                                       (first: zero past)
dropout                hidden 0.4 inside blocks (sublayers, FFN, block  embeddings 0.4, blocks 0.1,
                       output), attention 0.1, none on the (graph)     attention 0.1
                       embeddings
selection              pre-train: best eval rx→rx PR-AUC; fine-tune:   pre-train: val loss;
                       best eval PR-AUC                                fine-tune: val Jaccard
threshold              0.3                                             0.3, + tuned on validation
sequence length        55 tokens (longer sets fail)                    the batch's longest set
output vocabulary      meds of the multi-visit data                    meds of the train split
=====================  ==============================================  ===========================

    OMP_NUM_THREADS=1 python bench/gbert_reference.py
    OMP_NUM_THREADS=1 python bench/gbert_reference.py --patients 30 --tag small
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's MedRec, not another installed copy
from gbert_reference_medrec import hierarchy_report, mapping, run_medrec  # noqa: E402
from gbert_reference_official import run_official, unplaceable_codes  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "gbert-official"
TOL = 1e-5
SEQ_LEN = 55  # the official --max_seq_length

# Each documented difference, neutralised on the official side by a text patch of the copy
# (file, old, new) or at run time inside the runner (no patch).
FIXES: dict[str, dict[str, Any]] = {
    "tree_self_loops": {
        "what": "the official trees hold self-loop edges where a code equals its own ancestor's "
        "name (every 4-character ATC code: code[:4] == code; 3-digit ICD-9 codes); PyG 1.0.3 "
        "keeps them beside the self-loop it adds, so a leaf weighs itself twice in stage two. "
        "Current GATConv drops them (remove_self_loops, then one loop); MedRec's own trees "
        "prefix names by level and have none",
        "kind": "deliberate (official quirk); MedRec is right",
        "patch": None,
    },
    "pool_order": {
        "what": "official fine-tuning interleaves the visits' rows (dx1, rx1, dx2, rx2, ...) but "
        "splits the pooled rows with view(2, -1, H) (first half as dx, second half as rx), so "
        "e.g. with 2 visits it predicts from dx1, dx2 (as the rx mean) and rx1 (as the current "
        "dx); MedRec follows the paper (past dx and rx means, current dx)",
        "kind": "deliberate (official bug); MedRec is right",
        "patch": None,
    },
    "pretrain_rx_type": {
        "what": "official pre-training gives the rx set token type 0 (torch.zeros for both "
        "calls of GBERT_Pretrain.forward); fine-tuning uses type 1 for rx, as MedRec does in "
        "both stages",
        "kind": "deliberate (MedRec consistent across stages)",
        "patch": (
            "predictive_models.py",
            "rx_bert_pool = self.bert(inputs[:, 1, :], torch.zeros(",
            "rx_bert_pool = self.bert(inputs[:, 1, :], torch.ones(",
        ),
    },
}
# The stages each difference may change (name prefixes); anything else differing is unexpected.
EFFECTS: dict[str, tuple[str, ...]] = {
    "tree_self_loops": ("ontology", "ft ", "pt "),
    "pool_order": ("ft logits", "ft loss"),
    "pretrain_rx_type": ("pt rx ", "pt logits rx", "pt loss"),
}


# ---------------------------------------------------------------- data


def tiny_cohort(reference: Path, patients: int, seed: int) -> tuple[list[Any], Any, list[str]]:
    """Synthetic multi-visit patients (visits with codes of both kinds that fit 55 tokens).

    Diagnoses the official ICD-9 tree cannot place are dropped (returned, sorted).
    """
    from dataclasses import replace

    from training.data.synth import SynthConfig, generate_patients
    from training.data.vocab import Vocabularies

    drawn = list(generate_patients(SynthConfig(patients=patients, seed=seed)))
    codes = sorted({c.code for p in drawn for v in p.visits for c in v.diagnoses})
    bad = unplaceable_codes(reference, codes)

    def fits(v: Any) -> bool:
        return 0 < len(v.diagnoses) < SEQ_LEN and 0 < len(v.medications) < SEQ_LEN

    kept = []
    for p in drawn:
        placed = (
            replace(v, diagnoses=tuple(c for c in v.diagnoses if c.code not in bad))
            for v in p.visits
        )
        visits = tuple(v for v in placed if fits(v))
        if len(visits) >= 2:  # the official fine-tuning keeps patients with 2+ visits
            kept.append(replace(p, visits=visits))
    if not kept:
        raise SystemExit(f"no multi-visit patient among {patients} synthetic ones")
    return kept, Vocabularies.fit(kept), sorted(bad)


def official_inputs(work: Path, cohort: list[Any], vocabs: Any) -> dict[str, Any]:
    """Write the official tokenizer's vocabulary files; return the runner's input."""
    data = work / "data"
    data.mkdir(parents=True)
    dx = [c.code for c in vocabs.diag.tokens]
    rx = list(vocabs.med.tokens)
    for name, codes in (("dx", dx), ("rx", rx)):
        for suffix in ("", "-multi"):  # one vocabulary: every patient here has 2+ visits
            (data / f"{name}-vocab{suffix}.txt").write_text("".join(f"{c}\n" for c in codes))
    patients = [
        [{"dx": [c.code for c in v.diagnoses], "rx": list(v.medications)} for v in p.visits]
        for p in cohort
    ]
    weights = work / "weights"
    weights.mkdir()
    return {
        "data_dir": str(data),
        "patients": patients,
        "seq_len": SEQ_LEN,
        "weights": str(weights),
    }


# ---------------------------------------------------------------- comparison


def _diff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise SystemExit(f"shape mismatch {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _medrec_ids(ids: np.ndarray, num_rx: int) -> np.ndarray:
    """Official token ids ([PAD] [CLS] [MASK], rx codes, dx codes) → MedRec's per-kind ids."""
    return np.where(ids >= 3 + num_rx, ids - num_rx, ids)


def compare(off: dict[str, np.ndarray], med: dict[str, Any], layers: int) -> dict[str, float]:
    """Max abs difference of every stage (real positions only: [CLS] and the codes)."""
    stages: dict[str, float] = {}

    def put(name: str, value: float) -> None:
        stages[name] = max(stages.get(name, 0.0), value)

    num_rx = med["onto_rx"].shape[0]
    put("ontology dx leaves", _diff(off["onto_dx"], med["onto_dx"]))
    put("ontology rx leaves", _diff(off["onto_rx"], med["onto_rx"]))
    batch, caps, enc = med["batch"], med["ft_caps"], med["enc"]
    b, v = batch["visit_mask"].shape
    for p, visits in enumerate(enc):
        for k, kind in enumerate(("dx", "rx")):
            tokens = batch[f"{kind}_tokens"].numpy()
            for t, visit in enumerate(visits):
                n, row, flat = 1 + len(getattr(visit, kind)), 2 * t + k, p * v + t
                ids = _medrec_ids(off[f"ft_ids/{p}"][row], num_rx)
                put(
                    "inputs ft tokens", float(np.sum(ids[:n] != tokens[p, t, :n]) + np.sum(ids[n:]))
                )
                put(
                    f"ft {kind} embeddings",
                    _diff(off[f"ft_emb/{p}"][row, :n], caps["emb"][k][flat, :n]),
                )
                for i in range(layers):
                    ours = caps[f"block{i}"][k][flat]
                    m = min(n, ours.shape[0])  # the last block computes [CLS] alone
                    put(
                        f"ft {kind} block {i + 1}",
                        _diff(off[f"ft_block{i}/{p}"][row, :m], ours[:m]),
                    )
                put(f"ft {kind} cls", _diff(off[f"ft_pool/{p}"][row], med["ft_cls"][k][p, t]))
        n = len(visits)
        put("inputs ft labels", _diff(off[f"ft_labels/{p}"], batch["targets"][p, 1:n]))
        put("ft logits", _diff(off[f"ft_logits/{p}"], med["ft_logits"][p, 1:n]))
        put("ft loss (official BCE)", abs(float(off[f"ft_loss/{p}"]) - med["ft_bce"][p]))
    pt = med["pt_batch"]
    for k, kind in enumerate(("dx", "rx")):
        ids = _medrec_ids(off["pt_ids"][:, k], num_rx)
        ours = pt[f"{kind}_tokens"].numpy()
        width = ours.shape[1]
        put("inputs pt tokens", float(np.sum(ids[:, :width] != ours) + np.sum(ids[:, width:])))
        put("inputs pt labels", _diff(off[f"pt_y{kind}"], pt[f"{kind}_set"]))
        real = ours > 0  # [CLS], [MASK] and codes
        real[:, 0] = True
        for name, key in (
            ("embeddings", "emb"),
            *((f"block {i + 1}", f"block{i}") for i in range(layers)),
        ):
            a, m = off[f"pt_{key}/{kind}"][:, :width], med["pt_caps"][key][k]
            put(f"pt {kind} {name}", _diff(a[real], m[real]))
        put(f"pt {kind} cls", _diff(off[f"pt_pool/{kind}"], med["pt_cls"][k]))
    for k, name in enumerate(("dx→dx", "rx→dx", "dx→rx", "rx→rx")):
        put(f"pt logits {name}", _diff(off[f"pt_logits/{k}"], med["pt_logits"][k]))
    put("pt loss (4 BCE)", abs(float(off["pt_loss"]) - med["pt_loss"]))
    return stages


def run_names() -> dict[str, list[str]]:
    """Each official run and the differences it neutralises."""
    runs = {"official": [], "aligned": sorted(FIXES)}
    runs.update({f"aligned-without-{f}": sorted(set(FIXES) - {f}) for f in FIXES})
    return runs


def _affected(stage: str, diffs: list[str]) -> bool:
    return any(stage.startswith(prefix) for d in diffs for prefix in EFFECTS[d])


def summarise(results: dict[str, dict[str, float]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per stage: the diff of every run, which runs are meant to match, what explains it."""
    runs = run_names()
    rows, unexpected = [], []
    for stage in next(iter(results.values())):
        meant = {r: not _affected(stage, sorted(set(FIXES) - set(f))) for r, f in runs.items()}
        diffs = {r: results[r][stage] for r in runs}
        for r in runs:
            if meant[r] and diffs[r] > TOL:
                unexpected.append(f"{stage}: {r} differs by {diffs[r]:.3g}")
        explained = [f for f in FIXES if diffs[f"aligned-without-{f}"] > TOL]
        rows.append(
            {
                "stage": stage,
                "max_abs_diff": diffs,
                "meant_to_match": meant,
                "explained_by": explained,
            }
        )
    return rows, unexpected


def print_table(rows: list[dict[str, Any]]) -> None:
    runs = list(run_names())
    short = ["official", "aligned", *(f"-{f}" for f in FIXES)]
    print(f"{'stage':28s} " + " ".join(f"{s[:16]:>16s}" for s in short) + "  explained by")
    for row in rows:
        cells = " ".join(f"{row['max_abs_diff'][r]:16.3g}" for r in runs)
        print(f"{row['stage'][:28]:28s} {cells}  {', '.join(row['explained_by']) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-repo", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--patients", type=int, default=60, help="synthetic patients drawn")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    reference = args.reference_repo.resolve()
    if not (reference / "code" / "bert_models.py").is_file():
        raise SystemExit(f"{reference}: no code/bert_models.py (the jshang123/G-Bert checkout)")
    cohort, vocabs, dropped = tiny_cohort(reference, args.patients, args.data_seed)
    results: dict[str, dict[str, float]] = {}
    leaks: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gbert-ref-") as tmp:
        work = Path(tmp)
        inputs = official_inputs(work, cohort, vocabs)
        medrec: dict[str, Any] | None = None
        for name, fixes in run_names().items():
            print(f"official code, {name} ...", flush=True)
            patches = [FIXES[f]["patch"] for f in fixes if FIXES[f]["patch"] is not None]
            off, meta = run_official(reference, work, name, fixes, patches, inputs)
            if medrec is None:  # the first run wrote the weights every later run loads
                medrec = run_medrec(meta, Path(inputs["weights"]), cohort, vocabs)
                layers = meta["config"]["num_hidden_layers"]
                hierarchy = hierarchy_report(meta, vocabs)
                keys = meta["keys"]
            results[name] = compare(off, medrec, layers)
            leaks[name] = {k: float(off[f"ft_leak_{k}"]) for k in ("own", "future")}
    rows, unexpected = summarise(results)
    print_table(rows)
    for line in unexpected:
        print("UNEXPECTED", line)
    leaks["medrec"] = medrec["ft_leak"]
    print("leak: max |Δ logit| of visit t when the medications of visit t / of later visits change")
    for k, v in leaks.items():
        print(f"  {k:34s} own {v['own']:9.3g}   future {v['future']:9.3g}")
    visits = [len(p.visits) for p in cohort]
    result = {
        "tolerance": TOL,
        "cohort": {
            "source": f"training.data.synth, {args.patients} patients (seed {args.data_seed}), "
            "multi-visit ones kept",
            "patients": len(cohort),
            "visits": sum(visits),
            "max_visits": max(visits),
            "diag_codes": len(vocabs.diag),
            "meds": len(vocabs.med),
            "diagnoses_the_official_tree_cannot_place": dropped,
        },
        "official_config": meta["config"],
        "runs": run_names(),
        "stages": rows,
        "unexpected": unexpected,
        "differences": [
            {
                "id": f,
                **{k: v for k, v in d.items() if k != "patch"},
                "patch": d["patch"],
                "affects": list(EFFECTS[f]),
            }
            for f, d in FIXES.items()
        ],
        "medication_leak": {
            "what": "max |change| of visit t's fine-tuning logits when only the medications of "
            "visit t itself (own) or of the visits after it (future) change (0 expected)",
            "max_abs_change": leaks,
        },
        "hierarchy": hierarchy,
        "medrec_only": {
            "first_visit_logits": "MedRec also predicts each patient's first visit (zero past)",
            "finetune_loss_all_visits": medrec["ft_own_loss"],
            "masked_code_loss_term": medrec["mlm_term"],
        },
        "mapping": {m: mapping(m, layers) for m in ("recommender", "pretrain")},
        "medrec_parameters_without_official_twin": medrec["unmapped"],
        "official_keys": keys,
        "argv": sys.argv[1:],
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("gbert_reference" + (f"-{args.tag}" if args.tag else "") + ".json")
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
