from __future__ import annotations

import pytest
from torch import nn

from training.distributed import Dist, session, uneven


def test_ranks_share_the_patients_evenly_and_reshuffle_each_epoch() -> None:
    items = list(range(11))
    ranks = [Dist(rank=r, world_size=2) for r in range(2)]
    first = [d.shard(items, epoch=1, seed=0) for d in ranks]
    assert len(first[0]) == len(first[1]) == 6  # one item repeats so both take the same steps
    assert set(first[0]) | set(first[1]) == set(items)
    assert first == [d.shard(items, epoch=1, seed=0) for d in ranks]  # reproducible
    assert first != [d.shard(items, epoch=2, seed=0) for d in ranks]
    assert [d.seed(7) for d in ranks] == [7, 8]


def test_one_process_is_the_identity() -> None:
    one = Dist()
    items = list("abcde")
    assert one.shard(items, epoch=3, seed=1) == items
    assert one.gather(one.part(items)) == items
    assert one.sum([1.0, 2.5]) == [1.0, 2.5]
    model = nn.Linear(2, 2)
    assert one.wrap(model) is model
    with uneven(model):
        pass


def test_evaluation_parts_cover_the_split_once() -> None:
    items = list(range(7))
    parts = [Dist(rank=r, world_size=3).part(items) for r in range(3)]
    assert sorted(i for p in parts for i in p) == items


def test_distributed_outside_torchrun_says_how_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="needs torchrun"), session("cpu", distributed=True):
        pass
    with session("cpu", distributed=False) as one:
        assert (one.rank, one.world_size, one.is_main) == (0, 1, True)
