"""Speed settings for GPU nodes, checked where torch allows it on CPU: mixed precision (`amp`: bf16 or
fp16 autocast, a GradScaler for fp16), the liveness CNN's channels_last layout, and its batch readers."""

import math

import numpy as np
import pytest
import torch

from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Precision
from faceauth.tasks import get_task
from faceauth.tasks.liveness.model import batch_loader, build_model, memory_format, to_input

CPU = torch.device("cpu")


@pytest.mark.parametrize("amp,dtype", [("off", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_forward_pass_runs_in_the_precision_asked(amp, dtype):
    layer = torch.nn.Linear(4, 2)
    with Precision(amp, CPU).autocast():
        assert layer(torch.randn(3, 4)).dtype == dtype
    assert layer(torch.randn(3, 4)).dtype == torch.float32  # outside the training step: fp32


def test_fp16_steps_through_a_grad_scaler_that_skips_an_overflow():
    assert Precision("bf16", CPU).scaler is None and Precision("off", CPU).scaler is None
    precision = Precision("fp16", CPU)
    layer = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1, fused=True)
    before = [p.detach().clone() for p in layer.parameters()]
    scale = precision.scaler.get_scale()
    precision.step(optimizer, layer(torch.full((2, 4), float("inf"))).sum())  # inf gradients: the step is skipped
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    assert precision.scaler.get_scale() < scale
    precision.step(optimizer, layer(torch.ones(2, 4)).sum())
    assert not all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))


@pytest.mark.parametrize("value,expected", [(True, "bf16"), (False, "off"), ("fp16", "fp16")])
def test_amp_takes_a_precision_or_the_older_true_false(value, expected):
    assert get_task("fusion").config({"synthetic": True, "amp": value}).amp == expected


def test_an_unknown_precision_is_refused_naming_the_key():
    with pytest.raises(FaceauthError, match="amp"):
        get_task("fusion").config({"synthetic": True, "amp": "fp8"})


@pytest.mark.parametrize("name,amp", [("fusion", "bf16"), ("fusion", "fp16"), ("liveness", "bf16"), ("temporal", "bf16")])
def test_each_task_trains_under_mixed_precision_on_cpu(small_config, name, amp):
    from faceauth.train import train_once

    task = get_task(name)
    values = {**small_config(task), "amp": amp}
    if name == "fusion":
        values["fusion_kind"] = "mlp"  # a kind that trains
    result = train_once(task, task.config(values), verbose=False)
    losses = [h["train_loss"] for h in result["history"] if "train_loss" in h]
    assert losses and all(math.isfinite(loss) for loss in losses)


def test_fp16_on_a_cpu_lstm_is_refused_with_what_works(small_config):
    from faceauth.train import train_once

    task = get_task("temporal")
    with pytest.raises(FaceauthError, match="amp: fp16 does not train the LSTM on CPU.*bf16"):
        train_once(task, task.config({**small_config(task), "amp": "fp16", "temporal_kind": "lstm"}), verbose=False)


def test_channels_last_applies_on_cuda_only_and_the_inputs_already_lie_so():
    assert memory_format(torch.device("cuda"), True) == torch.channels_last
    assert memory_format(torch.device("cuda"), False) == torch.contiguous_format
    assert memory_format(CPU, True) == torch.contiguous_format
    x = to_input(np.random.default_rng(0).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8), CPU)
    assert x.shape == (2, 3, 16, 16) and x.is_contiguous(memory_format=torch.channels_last)
    model = build_model({"width": 4, "depth": 10, "dropout": 0.0, "image_size": 16, "mean": [0.5] * 3, "std": [0.25] * 3}).eval()
    expected = model(x)
    assert torch.allclose(model.to(memory_format=torch.channels_last)(x), expected, atol=1e-5)


def test_batch_readers_give_the_same_batches_in_the_same_order():
    images = np.random.default_rng(1).integers(0, 255, (40, 8, 8, 3), dtype=np.uint8)
    batches = [np.array([3, 1, 7]), np.array([0, 39]), np.array([5, 6, 8, 9])]
    alone = list(batch_loader(images, batches, 0, CPU))
    ahead = list(batch_loader(images, batches, 2, CPU))
    assert [b.dtype for b in alone] == [torch.uint8] * 3
    for batch, a, b in zip(batches, alone, ahead):
        assert np.array_equal(a.numpy(), images[batch]) and torch.equal(a, b)


def test_liveness_trains_alike_with_reader_workers_and_decoding_on_access(small_config):
    """With `cache: false` each batch is decoded when read: two workers read ahead, the same model comes out."""
    from faceauth.train import train_once

    task = get_task("liveness")
    histories = []
    for workers in (0, 2):
        values = {**small_config(task), "cache": False, "loader_workers": workers}
        histories.append([h["train_loss"] for h in train_once(task, task.config(values), verbose=False)["history"]
                          if "train_loss" in h])
    assert histories[0] and histories[0] == pytest.approx(histories[1], rel=1e-6)


def test_a_negative_reader_count_is_refused_naming_the_key():
    with pytest.raises(FaceauthError, match="loader_workers"):
        get_task("liveness").config({"synthetic": True, "loader_workers": -1})
