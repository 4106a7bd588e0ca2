"""G-BERT configuration: sizes, decoupled-head attention maps and the optional adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Routing = Literal["token", "visit", "constant"]
AdapterKind = Literal["lora", "mor"]


@dataclass(frozen=True)
class AdapterConfig:
    """Low-rank adapters on Q, K, V, O and both FFN projections (the base stays frozen).

    Args:
        kind: ``"lora"`` (one low-rank update) or ``"mor"`` (mixture of ranks).
        rank: r, the shared rank.
        experts: N, MoR experts (ignored by LoRA).
        alpha: scale numerator; the update is multiplied by ``alpha / rank``.
        routing: MoR router input: every ``"token"``, the visit's ``[CLS]`` position
            (``"visit"``), or a learned constant mixture (``"constant"``, mergeable into W).
    """

    kind: AdapterKind = "mor"
    rank: int = 8
    experts: int = 4
    alpha: float = 16.0
    routing: Routing = "token"

    def __post_init__(self) -> None:
        if self.rank < 1 or self.experts < 1:
            raise ValueError("AdapterConfig: rank and experts must be >= 1")


@dataclass(frozen=True)
class GBertConfig:
    """Sizes of G-BERT (defaults from the official ``bert_config.json``).

    Args:
        num_diag_codes: diagnosis vocabulary size (without special tokens).
        num_meds: medication (ATC3) vocabulary size (without special tokens).
        hidden: D, the hidden size.
        layers: transformer layers.
        heads: H, query heads per layer.
        head_dim: d, size of one head; ``heads * head_dim`` need not equal ``hidden`` (the
            narrow-MHA ablation uses fewer heads).
        intermediate: FFN inner size (G-BERT uses 300, not 4·D).
        graph_heads: GAT heads; ``hidden`` must divide by it.
        embedding_dropout: dropout on the input embeddings (the official code has none there;
            it drops 0.4 inside the blocks: ours are kept, not measured against those).
        dropout: dropout inside the blocks.
        attention_dropout: dropout on attention probabilities.
        key_maps: per layer, d_K: the key-bank head each query head reads; ``None`` = MHA.
        value_maps: per layer, d_V, likewise for values.
        adapter: adapters wrapped around the projections, or ``None``.
        use_procedures: procedure codes join the diagnosis side of each visit as context tokens
            (their own ontology embedding and a third token type); ``False`` keeps the paper's
            diagnosis-only input (and every checkpoint written before the option).
        num_proc_codes: procedure vocabulary size (without special tokens); read only with
            ``use_procedures``.
        mask_cls_key: attention hides the [CLS] key of a set that has codes, as the official
            code's (``mask = x > 1``), so [CLS] reads the codes only; an empty set keeps it.
            ``False`` (the default, and every config written before the option) lets [CLS]
            read itself too: on the MIMIC-size synthetic set the official masking lowered the
            fine-tuned validation Jaccard from 0.5249 to 0.5158 (one seed, same schedule).
    """

    num_diag_codes: int
    num_meds: int
    hidden: int = 300
    layers: int = 2
    heads: int = 4
    head_dim: int = 75
    intermediate: int = 300
    graph_heads: int = 4
    embedding_dropout: float = 0.4
    dropout: float = 0.1
    attention_dropout: float = 0.1
    key_maps: tuple[tuple[int, ...], ...] | None = None
    value_maps: tuple[tuple[int, ...], ...] | None = None
    adapter: AdapterConfig | None = field(default=None)
    use_procedures: bool = False
    num_proc_codes: int = 0
    mask_cls_key: bool = False

    def __post_init__(self) -> None:
        if self.use_procedures and self.num_proc_codes < 1:
            raise ValueError("GBertConfig: use_procedures needs num_proc_codes >= 1")
        if self.hidden % self.graph_heads:
            raise ValueError("GBertConfig: hidden must be divisible by graph_heads")
        for name in ("key_maps", "value_maps"):
            maps = getattr(self, name)
            if maps is not None and (
                len(maps) != self.layers or any(len(m) != self.heads for m in maps)
            ):
                raise ValueError(f"GBertConfig: {name} needs one map of length heads per layer")

    def layer_maps(self, layer: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Return (d_K, d_V) of ``layer``; identity maps when the model is plain MHA."""
        identity = tuple(range(self.heads))
        k = self.key_maps[layer] if self.key_maps is not None else identity
        v = self.value_maps[layer] if self.value_maps is not None else identity
        return k, v

    def to_json(self) -> dict[str, Any]:
        """Return a plain-JSON form (lists for tuples) for checkpoints and run.json."""
        out: dict[str, Any] = {
            k: getattr(self, k) for k in self.__dataclass_fields__ if k != "adapter"
        }
        for name in ("key_maps", "value_maps"):
            if out[name] is not None:
                out[name] = [list(m) for m in out[name]]
        out["adapter"] = None if self.adapter is None else dict(self.adapter.__dict__)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> GBertConfig:
        """Build from :meth:`to_json` output; unknown keys raise ``TypeError``.

        A config written before ``use_procedures`` existed loads as diagnosis-only.
        """
        obj = dict(obj)
        for name in ("key_maps", "value_maps"):
            if obj.get(name) is not None:
                obj[name] = tuple(tuple(int(i) for i in m) for m in obj[name])
        adapter = obj.pop("adapter", None)
        return cls(**obj, adapter=None if adapter is None else AdapterConfig(**adapter))
