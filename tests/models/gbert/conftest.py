"""Tiny G-BERT configs and graphs for model tests."""

from __future__ import annotations

import pytest
import torch

from models.gbert.config import GBertConfig
from models.gbert.model import CodeGraph


def chain_graph(leaves: int) -> CodeGraph:
    """A root (node 0) over two inner nodes over ``leaves`` leaves (nodes 3..)."""
    parents = [1 + (i % 2) for i in range(leaves)]
    up = [(3 + i, p) for i, p in enumerate(parents)] + [(1, 0), (2, 0)]
    down = [(p, 3 + i) for i, p in enumerate(parents)] + [(0, 3 + i) for i in range(leaves)]
    return CodeGraph(
        num_nodes=3 + leaves,
        leaf_index=torch.arange(3, 3 + leaves),
        up_edges=torch.tensor(up).t().contiguous(),
        down_edges=torch.tensor(down).t().contiguous(),
    )


@pytest.fixture
def tiny_config() -> GBertConfig:
    return GBertConfig(
        num_diag_codes=7,
        num_meds=5,
        hidden=16,
        layers=2,
        heads=4,
        head_dim=4,
        intermediate=16,
        graph_heads=4,
    )


@pytest.fixture
def graphs() -> tuple[CodeGraph, CodeGraph]:
    return chain_graph(7), chain_graph(5)
