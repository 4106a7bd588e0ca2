"""The official G-BERT side of ``bench/gbert_reference.py``: the runner and its shims.

Everything here runs the official code (``jshang123/G-Bert`` ``code/``) on a copy in a temp dir;
the shims are listed in ``bench/gbert_reference.py``'s docstring. Nothing of the official code
enters this repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_PYG103 = r'''
"""PyG 1.0.3's scatter_, softmax and add_self_loops signatures on current torch-geometric."""
from torch_geometric import utils


def scatter_(name, src, index, dim_size=None):
    reduce = {"add": "sum", "mean": "mean", "max": "max"}[name]
    return utils.scatter(src, index, 0, dim_size=dim_size, reduce=reduce)


def softmax(src, index, num_nodes=None):
    return utils.softmax(src, index, num_nodes=num_nodes)


def add_self_loops(edge_index, num_nodes=None):
    return utils.add_self_loops(edge_index, num_nodes=num_nodes)[0]
'''

_RUNNER = r"""
import inspect, json, os, pickle, sys, types
import numpy as np
import torch
import torch_geometric.nn.inits, torch_geometric.utils  # before the stand-ins: PyG probes pandas

inspect.getargspec = inspect.getfullargspec  # shim: removed in Python 3.11
import sklearn.metrics
sklearn.metrics.jaccard_similarity_score = sklearn.metrics.jaccard_score  # shim: removed
for name in ("pandas", "tensorboardX"):  # shim: imported by the run scripts, unused here
    try:
        __import__(name)
    except ImportError:
        sys.modules[name] = types.ModuleType(name)
        sys.modules[name].SummaryWriter = None
try:
    import dill  # noqa: F401
except ImportError:
    sys.modules["dill"] = pickle  # shim: same API, never used to load here
import run_gbert, run_pretraining
from config import BertConfig
from predictive_models import GBERT_Predict, GBERT_Pretrain

IN = json.load(open(os.environ["HARNESS_IN"]))
OUT = os.environ["HARNESS_OUT"]
fixes = set(IN["fixes"])
tok = run_gbert.EHRTokenizer(IN["data_dir"])
torch.manual_seed(0)
config = BertConfig(len(tok.vocab.word2idx))
config.graph = True  # as run_gbert.py --graph
predict = GBERT_Predict(config, tok)
pretrain = GBERT_Pretrain(config, tok.dx_voc, tok.rx_voc)
models = {"predict": predict, "pretrain": pretrain}
for name, model in models.items():
    path = os.path.join(IN["weights"], name + ".npz")
    if os.path.exists(path):
        arrays = np.load(path, allow_pickle=False)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    else:
        gen = torch.Generator().manual_seed(1 if name == "predict" else 2)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)
        np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})
    model.eval()

def tree(onto):
    return {"nodes": [onto.graph_voc.idx2word[i] for i in range(len(onto.graph_voc.idx2word))],
            "edges1": onto.edges1.tolist(), "edges2": onto.edges2.tolist(),
            "leaves": list(onto.idx_mapping)}

onto = predict.bert.embedding.ontology_embedding
json.dump({"config": config.to_dict(), "dx": tree(onto.dx_embedding), "rx": tree(onto.rx_embedding),
           "keys": {n: list(m.state_dict()) for n, m in models.items()}},
          open(os.path.join(OUT, "official.json"), "w"))
if "tree_self_loops" in fixes:  # documented difference, neutralised at run time
    for model in models.values():
        o = model.bert.embedding.ontology_embedding
        for emb in (o.dx_embedding, o.rx_embedding):
            emb.edges1 = emb.edges1[:, emb.edges1[0] != emb.edges1[1]]
            emb.edges2 = emb.edges2[:, emb.edges2[0] != emb.edges2[1]]

out = {}
def record(bert, prefix):
    # BERT.forward calls transformer.forward(x, mask) directly (no module hooks): wrap it
    for l, block in enumerate(bert.transformer_blocks):
        def forward(x, mask, inner=block.forward, l=l):
            if l == 0:
                out.setdefault(prefix + "emb", []).append(x.numpy().copy())
            y = inner(x, mask)
            out.setdefault(prefix + "block%d" % l, []).append(y.numpy().copy())
            return y
        block.forward = forward
    bert.register_forward_hook(
        lambda m, a, o: out.setdefault(prefix + "pool", []).append(o[1].numpy().copy()))

record(predict.bert, "ft_")
record(pretrain.bert, "pt_")
pretrain.cls.register_forward_hook(
    lambda m, a, o: out.update({"pt_logits/%d" % k: t.numpy() for k, t in enumerate(o)}))

class Reordered(torch.nn.Module):  # pool_order: rows dx1, dx2, ..., rx1, rx2, ... for view(2, -1)
    def __init__(self, bert):
        super().__init__()
        self.inner = bert
    def forward(self, x, types):
        h, pool = self.inner(x, types)
        return h, torch.cat([pool[0::2], pool[1::2]])

if "pool_order" in fixes:
    predict.bert = Reordered(predict.bert)

with torch.no_grad():
    out["onto_dx"] = onto.dx_embedding().numpy()
    out["onto_rx"] = onto.rx_embedding().numpy()
    ft = run_gbert.EHRDataset.__new__(run_gbert.EHRDataset)
    ft.tokenizer, ft.seq_len, ft.sample_counter = tok, IN["seq_len"], 0
    ft.records = {i: [[v["dx"], v["rx"]] for v in p] for i, p in enumerate(IN["patients"])}
    for i in range(len(ft)):
        input_ids, _, rx_labels = ft[i]
        loss, logits = predict(input_ids, rx_labels=rx_labels)
        out.setdefault("ft_ids", []).append(input_ids.numpy())
        out.setdefault("ft_labels", []).append(rx_labels.numpy())
        out.setdefault("ft_logits", []).append(logits.numpy())
        out.setdefault("ft_loss", []).append(float(loss))

    def mask_first(tokens, vocab):  # shim: deterministic stand-in for the random masking
        if tokens:
            tokens[0] = "[MASK]"
        return tokens
    run_pretraining.random_word = mask_first
    pt = run_pretraining.EHRDataset.__new__(run_pretraining.EHRDataset)
    pt.tokenizer, pt.seq_len, pt.sample_counter = tok, IN["seq_len"], 0
    pt.admissions = [[v["dx"], v["rx"]] for p in IN["patients"] for v in p]
    items = [pt[i] for i in range(len(pt))]
    ids, ydx, yrx = (torch.stack([x[k] for x in items]) for k in range(3))
    loss = pretrain(ids, ydx, yrx)[0]
    out.update({"pt_ids": ids.numpy(), "pt_ydx": ydx.numpy(), "pt_yrx": yrx.numpy(),
                "pt_loss": float(loss)})

    # leak probe: does the prediction of visit t move when the medications of visit t itself
    # ("own") or of the visits after it ("future") change? A recommender must see neither.
    leak, rx_codes = {"own": 0.0, "future": 0.0}, list(tok.rx_voc.word2idx)
    for i, p in enumerate(IN["patients"]):
        for t in range(1, len(p)):
            for kind in ("own", "future"):
                hit = (lambda j: j == t) if kind == "own" else (lambda j: j > t)
                if not any(hit(j) for j in range(len(p))):
                    continue
                other = lambda v: [next(c for c in rx_codes if c not in v["rx"])]
                ft.records = {0: [[v["dx"], other(v) if hit(j) else v["rx"]]
                                  for j, v in enumerate(p)]}
                input_ids, _, rx_labels = ft[0]
                changed = predict(input_ids, rx_labels=rx_labels)[1].numpy()
                change = float(np.abs(changed[t - 1] - out["ft_logits"][i][t - 1]).max())
                leak[kind] = max(leak[kind], change)
    out["ft_leak_own"], out["ft_leak_future"] = leak["own"], leak["future"]

flat = {}
for k, v in out.items():
    if isinstance(v, list) and k.startswith("ft_"):
        for i, x in enumerate(v[: len(IN["patients"])]):  # the leak probe's calls left out
            flat["%s/%d" % (k, i)] = np.asarray(x)
    elif isinstance(v, list):  # pre-training: two bert calls, dx then rx
        flat[k + "/dx"], flat[k + "/rx"] = v
    else:
        flat[k] = np.asarray(v)
np.savez(os.path.join(OUT, "outputs.npz"), **flat)
"""


_CHECK = r"""
import json, sys
import sklearn.metrics
sklearn.metrics.jaccard_similarity_score = sklearn.metrics.jaccard_score  # shim: removed
from build_tree import build_icd9_tree
bad = []
for code in json.load(sys.stdin):
    try:
        build_icd9_tree([code])
    except KeyError:
        bad.append(code)
json.dump(bad, sys.stdout)
"""


def unplaceable_codes(reference: Path, codes: list[str]) -> set[str]:
    """ICD-9 codes the official ``build_icd9_tree`` cannot place (its category table is older)."""
    with tempfile.TemporaryDirectory(prefix="gbert-check-") as tmp:
        code = Path(tmp) / "code"
        shutil.copytree(reference / "code", code)
        (code / "_harness_check.py").write_text(_CHECK)
        proc = subprocess.run(
            [sys.executable, "_harness_check.py"],
            cwd=code,
            input=json.dumps(codes),
            capture_output=True,
            text=True,
            check=True,
        )
    return set(json.loads(proc.stdout))


def _patch(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{path}: expected {old!r} once (is this jshang123/G-Bert code/?)")
    path.write_text(text.replace(old, new))


def run_official(
    reference: Path,
    work: Path,
    name: str,
    fixes: list[str],
    patches: list[tuple[str, str, str]],
    inputs: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run the official models in ``work/name``; return their outputs and ``official.json``.

    ``fixes`` are the runner's run-time fixes; ``patches`` the (file, old, new) text patches.
    """
    run = work / name
    code = run / "code"
    shutil.copytree(reference / "code", code)
    _patch(
        code / "graph_models.py",
        "from torch_geometric.utils import scatter_, softmax, add_self_loops",
        "from _pyg103 import scatter_, softmax, add_self_loops",
    )
    for file, old, new in patches:
        _patch(code / file, old, new)
    (code / "_pyg103.py").write_text(_PYG103)
    (code / "_harness_run.py").write_text(_RUNNER)
    out = run / "out"
    out.mkdir()
    (run / "in.json").write_text(json.dumps({**inputs, "fixes": fixes}))
    env = {**os.environ, "HARNESS_IN": str(run / "in.json"), "HARNESS_OUT": str(out)}
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run(
        [sys.executable, "_harness_run.py"], cwd=code, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"official code failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    with np.load(out / "outputs.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads((out / "official.json").read_text())
