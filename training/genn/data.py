"""Everything a GENN run needs from a typed DDI table: the pair split and its graph tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from app.contract.errors import InputFileError
from training.genn.config import TrainConfig
from training.genn.graph import GraphSplit, table_split
from training.genn.pairs import TypedPairs, read_pairs

MIN_PAIRS = 20  # below this the 10% val/test parts hold one or two pairs


def prepare_table(ddi_path: Path, config: TrainConfig) -> tuple[TypedPairs, GraphSplit]:
    """Read the table and split its pairs (plus sampled negatives) by the run's seed.

    Raises:
        InputFileError: the table is malformed or has fewer than ``MIN_PAIRS`` pairs.
        ValueError: ``config.feature_dim`` is not the features' size.
    """
    pairs = read_pairs(Path(ddi_path))
    if len(pairs.pairs) < MIN_PAIRS:
        raise InputFileError(ddi_path, f"need at least {MIN_PAIRS} known pairs to train GENN")
    split = table_split(pairs, seed=config.seed, negative_ratio=config.negative_ratio)
    if config.feature_dim != split.x.shape[1]:
        raise ValueError(f"TrainConfig: feature_dim {config.feature_dim} is not supported yet")
    return pairs, split


@dataclass(frozen=True)
class GraphTensors:
    """A :class:`GraphSplit` as tensors, plus the encoder graph built from the train pairs."""

    x: Tensor
    enc_index: Tensor
    enc_attr: Tensor
    pairs: dict[str, Tensor]
    labels: dict[str, Tensor]
    all_pairs: Tensor

    def to(self, device: str) -> GraphTensors:
        """Return a copy with every tensor on ``device``."""
        return GraphTensors(
            x=self.x.to(device),
            enc_index=self.enc_index.to(device),
            enc_attr=self.enc_attr.to(device),
            pairs={k: v.to(device) for k, v in self.pairs.items()},
            labels={k: v.to(device) for k, v in self.labels.items()},
            all_pairs=self.all_pairs.to(device),
        )

    @classmethod
    def from_split(cls, split: GraphSplit) -> GraphTensors:
        """Build tensors; the encoder gets interacting train pairs in both directions."""
        pairs = {
            "train": torch.from_numpy(split.train_pairs),
            "val": torch.from_numpy(split.val_pairs),
            "test": torch.from_numpy(split.test_pairs),
        }
        labels = {
            "train": torch.from_numpy(split.train_labels),
            "val": torch.from_numpy(split.val_labels),
            "test": torch.from_numpy(split.test_labels),
        }
        enc_index, enc_attr = encoder_graph(split.train_pairs, split.train_labels)
        return cls(
            x=torch.from_numpy(split.x),
            enc_index=enc_index,
            enc_attr=enc_attr,
            pairs=pairs,
            labels=labels,
            all_pairs=torch.cat([pairs["train"], pairs["val"], pairs["test"]]),
        )


def encoder_graph(pairs: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
    """Return ``edge_index [2, 2E]`` and ``edge_attr [2E, T]`` of the interacting pairs."""
    keep = labels.sum(axis=1) > 0
    p, y = torch.from_numpy(pairs[keep]), torch.from_numpy(labels[keep])
    edge_index = torch.cat([p.T, p.flip(1).T], dim=1)  # [2, 2E]
    return edge_index.contiguous(), torch.cat([y, y])
