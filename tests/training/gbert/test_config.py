import pytest

from training.gbert.config import TrainConfig


@pytest.mark.parametrize(
    ("stage", "lr"),
    [
        ("pretrain", TrainConfig.pretrain_lr),
        ("dha", TrainConfig.pretrain_lr),
        ("finetune", TrainConfig.finetune_lr),
    ],
)
def test_each_stage_trains_at_its_own_default_lr(stage, lr):
    assert TrainConfig(stage=stage).stage_lr() == lr
    assert TrainConfig(stage=stage, lr=1e-3).stage_lr() == 1e-3


def test_the_record_holds_the_lr_the_stage_ran_at():
    record = TrainConfig(stage="finetune").record()
    assert record["lr"] == TrainConfig.finetune_lr
    assert record["stage"] == "finetune"
