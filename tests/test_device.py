"""Device selection on any machine: CUDA is faked where a test needs it, so no test depends on a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_builder.errors import GlacierFaciesError
from modeling.cli import main
from modeling.errors import DeviceError
from modeling.network import FaciesCNN, FaciesCNNConfig
from modeling.training import distributed, evaluate_model, init_runtime, resolve_device
from modeling.training.device import autocast, memory_format, process_group_backend, to_device


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    """CUDA as the device selection sees it: two bf16-capable GPUs (nothing runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)


def test_auto_is_the_cpu_without_cuda(no_cuda):
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    runtime = init_runtime()
    assert (runtime.device, runtime.bf16, runtime.world, runtime.rank) == (torch.device("cpu"), False, 1, 0)


def test_cuda_without_cuda_is_a_clear_error(no_cuda):
    with pytest.raises(DeviceError, match="no CUDA device is available") as error:
        resolve_device("cuda")
    assert isinstance(error.value, GlacierFaciesError)
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        resolve_device("gpu")


def test_auto_and_cuda_pick_the_local_ranks_gpu(two_gpus):
    assert resolve_device("auto", local_rank=1) == resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    with pytest.raises(DeviceError, match="local rank 2 has no GPU"):
        resolve_device("auto", local_rank=2)


def test_the_process_group_backend_follows_the_device(two_gpus, monkeypatch):
    assert process_group_backend(torch.device("cuda", 0)) == "nccl"
    assert process_group_backend(torch.device("cpu")) == "gloo"
    backends = []
    monkeypatch.setattr(distributed.dist, "init_process_group", backends.append)  # records, joins nothing
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    gpu = init_runtime()
    cpu = init_runtime(device="cpu")
    assert backends == ["nccl", "gloo"]
    assert (gpu.device, gpu.bf16) == (torch.device("cuda", 1), True)
    assert not init_runtime(bf16=False).bf16
    assert (cpu.device, cpu.bf16) == (torch.device("cpu"), False)


def test_the_gpu_extras_are_no_ops_on_the_cpu():
    batch = np.ones((4, 3, 9, 9), np.float32)
    on_cpu = to_device(batch, torch.device("cpu"))
    assert on_cpu.data_ptr() == batch.ctypes.data  # no copy, no pinning
    assert memory_format(torch.device("cpu")) == torch.contiguous_format
    assert memory_format(torch.device("cuda", 0)) == torch.channels_last
    model = FaciesCNN(FaciesCNNConfig(bands=("blue", "green", "red"), patch_size=9)).eval()
    with autocast(False):
        assert model(on_cpu).dtype == torch.float32


def test_train_and_evaluate_refuse_cuda_without_it(no_cuda, tmp_path, capsys):
    assert main(["train", str(tmp_path / "ds"), str(tmp_path / "out"), "--fold", "0", "--device", "cuda"]) == 1
    assert "device cuda requested, but no CUDA device is available" in capsys.readouterr().err
    model = FaciesCNN(FaciesCNNConfig(bands=("blue", "green", "red"), patch_size=9))
    with pytest.raises(DeviceError):
        evaluate_model(model, tmp_path / "ds", 0, tmp_path / "eval", device="cuda")
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path / "ds"), str(tmp_path / "out"), "--fold", "0", "--device", "gpu"])
