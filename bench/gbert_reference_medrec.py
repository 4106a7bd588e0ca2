"""The MedRec side of ``bench/gbert_reference.py``: the weight mapping and the forward runs.

MedRec's models are built through their public classes (``GBertConfig``, ``GBertRecommender``,
``GBertPretrain``, ``CodeGraph``) and its own input builders (``training/gbert/batches.py``), so
the bench keeps working when the models gain optional inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_ONTO = "bert.embedding.ontology_embedding."
_BLOCK = (  # MedRec Block module ↔ official TransformerBlock module, has a bias
    ("attn.q_proj", "attention.linear_layers.0", False),
    ("attn.k_proj", "attention.linear_layers.1", False),
    ("attn.v_proj", "attention.linear_layers.2", False),
    ("attn.o_proj", "attention.output_linear", True),
    ("ln1", "input_sublayer.norm", True),
    ("ln2", "output_sublayer.norm", True),
    ("ffn.w1", "feed_forward.w_1", True),
    ("ffn.w2", "feed_forward.w_2", True),
)
_TRANSFORMS = {
    "copy": lambda a: a,
    "transpose": lambda a: a.T,  # official GATConv weight is [in, heads·out]; Linear is [out, in]
    # official a·[Θx_i ‖ Θx_j] with i the aggregating node: first half = att_dst, second = att_src
    "first_half": lambda a: a[..., : a.shape[-1] // 2],
    "second_half": lambda a: a[..., a.shape[-1] // 2 :],
}


def _linear(medrec: str, official: str, bias: bool = True) -> list[tuple[str, str, str]]:
    rows = [(f"{medrec}.weight", f"{official}.weight", "copy")]
    return rows + ([(f"{medrec}.bias", f"{official}.bias", "copy")] if bias else [])


def mapping(model: str, layers: int) -> list[tuple[str, str, str]]:
    """The explicit (MedRec key, official key, transform) list of ``recommender`` / ``pretrain``."""
    rows = [
        ("encoder.special", _ONTO + "special_embedding", "copy"),
        ("encoder.type_embedding.weight", "bert.embedding.type_embedding.weight", "copy"),
    ]
    for kind in ("dx", "rx"):
        m, o = f"encoder.{kind}_onto.", f"{_ONTO}{kind}_embedding."
        rows += [
            (m + "embedding", o + "embedding", "copy"),
            (m + "gat.lin.weight", o + "g.weight", "transpose"),
            (m + "gat.att_dst", o + "g.att", "first_half"),
            (m + "gat.att_src", o + "g.att", "second_half"),
            (m + "gat.bias", o + "g.bias", "copy"),
        ]
    for layer in range(layers):
        for m, o, bias in _BLOCK:
            rows += _linear(
                f"encoder.blocks.{layer}.{m}", f"bert.transformer_blocks.{layer}.{o}", bias
            )
    if model == "recommender":  # GBERT_Predict: dense = the two MappingHeads, cls = the MLP
        pairs = [("dx_map.0", "dense.0.dense.0"), ("rx_map.0", "dense.1.dense.0")]
        pairs += [("head.0", "cls.0"), ("head.2", "cls.2")]
    else:  # GBERT_Pretrain: SelfSupervisedHead's four ClsHeads, in the same order
        pairs = [(f"heads.{k}.{i}", f"cls.multi_cls.{k}.cls.{i}") for k in range(4) for i in (0, 2)]
    for m, o in pairs:
        rows += _linear(m, o)
    return rows


def load_mapped(
    model: Any, official: dict[str, np.ndarray], rows: list[tuple[str, str, str]]
) -> list[str]:
    """Load the official weights into ``model`` through ``rows``; every official key is used.

    Returns MedRec's parameters without an official twin (left at their init): the masked-code
    heads of ``GBertPretrain``, and whatever optional part a later MedRec adds (if a diag-only
    forward used it, the stages would differ and say so).
    """
    import torch

    state = model.state_dict()
    for mk, ok, how in rows:
        value = torch.from_numpy(np.ascontiguousarray(_TRANSFORMS[how](official[ok])))
        if state[mk].shape != value.shape:
            raise SystemExit(
                f"mapping {ok} → {mk}: {tuple(value.shape)} vs {tuple(state[mk].shape)}"
            )
        state[mk] = value
    unused = set(official) - {ok for _, ok, _ in rows}
    if unused:
        raise SystemExit(f"mapping incomplete: official {sorted(unused)} unused")
    model.load_state_dict(state)
    buffers = {k for k, _ in model.named_buffers()}
    return sorted(k for k in state if k not in {mk for mk, _, _ in rows} and k not in buffers)


def official_graph(tree: dict[str, Any]) -> Any:
    """An official tree as MedRec's CodeGraph (rows swapped: official row 0 aggregates)."""
    import torch

    from models.gbert.model import CodeGraph

    def edges(e: list[list[int]]) -> torch.Tensor:
        t = torch.tensor(e, dtype=torch.long)[[1, 0]]  # → [source, target]
        return t[:, t[0] != t[1]]  # current GATConv removes self-loops and adds one anyway

    return CodeGraph(
        num_nodes=len(tree["nodes"]),
        leaf_index=torch.tensor(tree["leaves"], dtype=torch.long),
        up_edges=edges(tree["edges1"]),
        down_edges=edges(tree["edges2"]),
    )


def _capture(encoder: Any) -> tuple[dict[str, list[np.ndarray]], list[Any]]:
    """Hooks recording block 0's input and each block's output, once per encoder call."""
    rec: dict[str, list[np.ndarray]] = {}

    def keep(key: str, x: Any) -> None:
        rec.setdefault(key, []).append(x.detach().numpy().copy())

    handles = [encoder.blocks[0].register_forward_pre_hook(lambda m, a: keep("emb", a[0]))]
    for i, block in enumerate(encoder.blocks):
        handles.append(block.register_forward_hook(lambda m, a, o, i=i: keep(f"block{i}", o)))
    return rec, handles


def _leak(rec: Any, enc: list[Any], num_meds: int, num_diag: int) -> dict[str, float]:
    """Max change of visit t's logits when visit t's own ("own") or later ("future") visits'
    medications change (both must be 0)."""
    from dataclasses import replace

    from training.gbert.batches import recommend_batch

    def logits(visits: list[Any], t: int) -> np.ndarray:
        b = recommend_batch([visits], num_meds, num_diag)
        keys = ("dx_tokens", "rx_tokens", "visit_mask")
        return rec(**{k: b[k] for k in keys})[0, t].numpy()  # type: ignore[no-any-return]

    def other(v: Any) -> Any:
        return replace(v, rx=(next(i for i in range(num_meds) if i not in v.rx),))

    leak = {"own": 0.0, "future": 0.0}
    for visits in enc:
        for t in range(1, len(visits)):
            base = logits(visits, t)
            for kind in leak:
                hit = [j == t if kind == "own" else j > t for j in range(len(visits))]
                if any(hit):
                    changed = [other(v) if h else v for v, h in zip(visits, hit, strict=True)]
                    change = float(np.abs(logits(changed, t) - base).max())
                    leak[kind] = max(leak[kind], change)
    return leak


def run_medrec(
    meta: dict[str, Any], weights: Path, cohort: list[Any], vocabs: Any
) -> dict[str, Any]:
    """Build MedRec's models through their public classes on the official weights and run them."""
    import torch
    import torch.nn.functional as F

    from models.gbert.config import GBertConfig
    from models.gbert.model import MASK, GBertPretrain, GBertRecommender
    from training.gbert.batches import encode_patient, multi_hot, pad_tokens, recommend_batch
    from training.gbert.finetune import finetune_loss
    from training.gbert.pretrain import pretrain_loss

    c = meta["config"]
    if c["graph_hidden_size"] * c["graph_heads"] != c["hidden_size"]:
        raise SystemExit("official config: graph_hidden_size · graph_heads != hidden_size")
    config = GBertConfig(
        num_diag_codes=len(vocabs.diag),
        num_meds=len(vocabs.med),
        hidden=c["hidden_size"],
        layers=c["num_hidden_layers"],
        heads=c["num_attention_heads"],
        head_dim=c["hidden_size"] // c["num_attention_heads"],
        intermediate=c["intermediate_size"],
        graph_heads=c["graph_heads"],
        mask_cls_key=True,  # the official masking (MedRec's default lets [CLS] read itself)
    )
    graphs = {"dx_graph": official_graph(meta["dx"]), "rx_graph": official_graph(meta["rx"])}
    rec, pre = GBertRecommender(config, **graphs), GBertPretrain(config, **graphs)
    unmapped: dict[str, list[str]] = {}
    for model, name in ((rec, "recommender"), (pre, "pretrain")):
        file = weights / ("predict.npz" if name == "recommender" else "pretrain.npz")
        with np.load(file, allow_pickle=False) as z:
            official = {k: z[k] for k in z.files}
            unmapped[name] = load_mapped(model, official, mapping(name, config.layers))
        model.eval()
    enc = [encode_patient(p, vocabs) for p in cohort]
    batch = recommend_batch(enc, config.num_meds, config.num_diag_codes)
    out: dict[str, Any] = {"enc": enc, "batch": batch, "unmapped": unmapped}
    with torch.no_grad():
        out["onto_dx"], out["onto_rx"] = (
            rec.encoder.dx_onto().numpy(),
            rec.encoder.rx_onto().numpy(),
        )
        caps, handles = _capture(rec.encoder)
        out["ft_logits"] = rec(
            dx_tokens=batch["dx_tokens"],
            rx_tokens=batch["rx_tokens"],
            visit_mask=batch["visit_mask"],
        ).numpy()
        for h in handles:
            h.remove()
        out["ft_caps"] = caps
        dx_table, rx_table = rec.encoder.tables()
        out["ft_cls"] = [
            rec.encode_visits(batch["dx_tokens"], dx_table, 0).numpy(),
            rec.encode_visits(batch["rx_tokens"], rx_table, 1).numpy(),
        ]
        out["ft_own_loss"] = float(finetune_loss(rec, batch))
        visits = [v for p in enc for v in p]
        tokens = []
        for sets in ([v.dx for v in visits], [v.rx for v in visits]):
            t = pad_tokens(sets)
            t[:, 1] = torch.where(t[:, 1] > 0, MASK, t[:, 1])  # the runner's mask_first
            tokens.append(t)
        pt_batch = {
            "dx_tokens": tokens[0],
            "rx_tokens": tokens[1],
            "dx_set": multi_hot([v.dx for v in visits], config.num_diag_codes),
            "rx_set": multi_hot([v.rx for v in visits], config.num_meds),
            "dx_masked": torch.full_like(tokens[0], -100),  # no masked-code term: 4 BCE only
            "rx_masked": torch.full_like(tokens[1], -100),
        }
        caps, handles = _capture(pre.encoder)
        hd, hr, *logits = pre(dx_tokens=pt_batch["dx_tokens"], rx_tokens=pt_batch["rx_tokens"])
        for h in handles:
            h.remove()
        out.update(pt_batch=pt_batch, pt_caps=caps, pt_cls=[hd[:, 0].numpy(), hr[:, 0].numpy()])
        out["pt_logits"] = [x.numpy() for x in logits]
        out["pt_loss"] = float(pretrain_loss(pre, pt_batch))
        first = {"dx_masked": tokens[0].clone(), "rx_masked": tokens[1].clone()}
        for key, sets in (
            ("dx_masked", [v.dx for v in visits]),
            ("rx_masked", [v.rx for v in visits]),
        ):
            first[key][:] = -100
            first[key][:, 1] = torch.tensor([s[0] for s in sets])
        out["mlm_term"] = float(pretrain_loss(pre, {**pt_batch, **first})) - out["pt_loss"]
        out["ft_leak"] = _leak(rec, enc, config.num_meds, config.num_diag_codes)
        targets = batch["targets"]
        out["ft_bce"] = [
            float(
                F.binary_cross_entropy_with_logits(
                    torch.from_numpy(out["ft_logits"][p, 1 : len(v)]), targets[p, 1 : len(v)]
                )
            )
            for p, v in enumerate(enc)
        ]
    return out


def hierarchy_report(meta: dict[str, Any], vocabs: Any) -> dict[str, Any]:
    """The official ``build_tree.py`` trees vs MedRec's ``training/gbert/ontology.py`` trees."""
    from training.gbert.ontology import diagnosis_hierarchy, medication_hierarchy

    def name(node: str) -> str:  # MedRec prefixes levels ("icd9cm:cat:401"); roots → ROOT
        return node.rsplit(":", 1)[-1] if ":" in node else "ROOT"

    ours = {
        "dx": diagnosis_hierarchy(vocabs.diag.tokens),
        "rx": medication_hierarchy(vocabs.med.tokens),
    }
    report = {}
    for kind, h in ours.items():
        tree = meta[kind]
        nodes = tree["nodes"]
        official: dict[int, set[str]] = {}
        for leaf, anc in zip(*tree["edges2"], strict=True):
            official.setdefault(leaf, set()).add(nodes[anc])
        ancestors: dict[int, set[str]] = {}
        for anc, leaf in h.down_edges.T.tolist():
            ancestors.setdefault(leaf, set()).add(h.nodes[anc])
        rows = []
        for i, (o_leaf, m_leaf) in enumerate(
            zip(tree["leaves"], h.leaf_index.tolist(), strict=True)
        ):
            o = {("ROOT" if a.endswith("_root") else a) for a in official.get(o_leaf, set())}
            m = {name(a) for a in ancestors[m_leaf]}
            sizes = (len(official.get(o_leaf, set()) - {nodes[o_leaf]}), len(ancestors[m_leaf]))
            rows.append((i, nodes[o_leaf] in o, sorted(o - {nodes[o_leaf]}), sorted(m), sizes))
        same = [r for r in rows if set(r[2]) - {"ROOT"} == set(r[3]) - {"ROOT"}]
        report[kind] = {
            "official_nodes": len(nodes),
            "medrec_nodes": len(h.nodes),
            "leaves": len(rows),
            "official_leaves_with_self_loop": sum(r[1] for r in rows),
            "leaves_with_same_non_root_ancestors": len(same),
            "official_mean_ancestors": float(np.mean([r[4][0] for r in rows])),
            "medrec_mean_ancestors": float(np.mean([r[4][1] for r in rows])),
            "examples": [
                {"code": nodes[tree["leaves"][r[0]]], "official": r[2], "medrec": r[3]}
                for r in rows
                if r not in same
            ][:3],
        }
    return report
