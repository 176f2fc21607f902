"""Conversion of the authors' Keras HDF5 weights: exactness on the published reference, every published
file, and (hermetically) synthetic Keras-layout files for the error paths and the CLI."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS, cv_split
from dataset_builder.statistics import BandStatistics, DatasetStatistics
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.errors import WeightsError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
UPSTREAM = SHARED / "upstream"
needs_shared = pytest.mark.skipif(
    not (UPSTREAM / "weights").is_dir(),
    reason=f"the published weights and reference outputs are not here ({UPSTREAM}); they are never copied into the repo",
)
EIGHT_BANDS = OPTICAL_BANDS + ("elevation", "slope")


def _load_cli():
    spec = importlib.util.spec_from_file_location(
        "convert_keras_weights", ROOT / "scripts" / "convert_keras_weights.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


convert_cli = _load_cli()


def write_keras_h5(path: Path, model: FaciesCNN, drop: str | None = None) -> None:
    """Write ``model``'s weights as Keras ``save_weights`` would (channels-last kernels, layers in creation
    order, weightless layers in between); ``drop`` leaves out one layer."""
    layers: list[tuple[str, dict[str, np.ndarray]]] = [("input_1", {})]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for i, (conv, bn) in enumerate(zip(convs, bns)):
        s = f"_{i}" if i else ""
        layers.append((f"conv2d{s}", {"kernel": conv.weight.permute(2, 3, 1, 0), "bias": conv.bias}))
        layers.append(
            (
                f"batch_normalization{s}",
                {
                    "gamma": bn.weight,
                    "beta": bn.bias,
                    "moving_mean": bn.running_mean,
                    "moving_variance": bn.running_var,
                },
            )
        )
        if i == 0:
            layers.append(("elu", {}))
        if i == len(convs) // 2 - 1:
            layers.append(("max_pooling2d", {}))
    layers += [("lambda", {}), ("global_max_pooling2d", {}), ("concatenate", {})]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for i, linear in enumerate(linears):
        s = f"_{i}" if i else ""
        layers += [(f"dropout{s}", {}), (f"dense{s}", {"kernel": linear.weight.T, "bias": linear.bias})]
    layers = [(name, tensors) for name, tensors in layers if name != drop]
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        h5.attrs["keras_version"] = b"2.11.0"
        h5.attrs["backend"] = b"tensorflow"
        for name, tensors in layers:
            group = h5.create_group(name)
            group.attrs["weight_names"] = np.array([f"{name}/{k}:0".encode() for k in tensors])
            for kind, tensor in tensors.items():
                group.create_dataset(f"{name}/{kind}:0", data=tensor.detach().numpy())


def source_model(bands, seed: int = 0) -> FaciesCNN:
    torch.manual_seed(seed)
    model = FaciesCNN(FaciesCNNConfig(bands=tuple(bands)))
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
    return model.eval()


def assert_same_outputs(a: FaciesCNN, b: FaciesCNN, size: int = 15) -> None:
    x = torch.randn(3, a.config.num_bands, size, size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def write_statistics(folder: Path) -> DatasetStatistics:
    rng = np.random.default_rng(0)
    bands = []
    for name in BAND_NAMES:
        lo = float(rng.uniform(-5, 5))
        bands.append(BandStatistics(name=name, unit="u", min=lo, max=lo + 10.0, mean=lo + 5.0, std=1.0))
    stats = DatasetStatistics(bands=bands, dtype="float32", patch_size=33, num_rows=1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "statistics.json").write_text(stats.to_json())
    return stats


# -- hermetic: synthetic Keras-layout files -------------------------------------------------------------


def test_synthetic_keras_file_converts_to_the_same_network(tmp_path):
    model = source_model(EIGHT_BANDS)
    write_keras_h5(tmp_path / "w.h5", model)
    converted = FaciesCNN.from_keras(tmp_path / "w.h5", bands=EIGHT_BANDS)
    assert_same_outputs(model, converted, size=32)
    assert converted.config.provenance["fold"] is None and converted.config.training is None
    assert "published_name" not in converted.config.provenance  # not one of the published files


def test_cli_writes_a_loadable_folder_with_statistics_and_provenance(tmp_path):
    model = source_model(OPTICAL_BANDS)
    source = tmp_path / "4_cnn_beforeconfidentlearning_weights.h5"
    write_keras_h5(source, model)
    stats = write_statistics(tmp_path / "dataset")
    assert convert_cli([str(source), str(tmp_path / "out"), "--stats", str(tmp_path / "dataset")]) == 0
    loaded = FaciesCNN.from_pretrained(tmp_path / "out")
    assert_same_outputs(model, loaded)
    config = loaded.config
    assert config.bands == OPTICAL_BANDS
    assert (config.normalization["min"], config.normalization["max"]) == stats.minmax(OPTICAL_BANDS)
    assert config.provenance["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (config.provenance["fold"], config.provenance["confident_learning"]) == (4, "before")
    split = cv_split(4)
    assert (config.training["validation_fold"], config.training["train_folds"]) == (split.validation, list(split.train))
    assert source.name in (tmp_path / "out" / "README.md").read_text()


def test_cli_needs_band_names_for_an_unusual_channel_count(tmp_path, capsys):
    write_keras_h5(tmp_path / "w.h5", source_model(EIGHT_BANDS))
    assert convert_cli([str(tmp_path / "w.h5"), str(tmp_path / "out")]) == 1  # a WeightsError, reported in one line
    assert "8 input channels; name them" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bands_must_match_the_input_channels(tmp_path):
    write_keras_h5(tmp_path / "w.h5", source_model(OPTICAL_BANDS))
    with pytest.raises(WeightsError, match=r"w.h5 has 6 input channels, but 11 bands"):
        FaciesCNN.from_keras(tmp_path / "w.h5", bands=BAND_NAMES)


def test_a_missing_layer_is_an_error_naming_the_file(tmp_path):
    write_keras_h5(tmp_path / "w.h5", source_model(BAND_NAMES), drop="dense_1")
    with pytest.raises(WeightsError, match=r"w.h5: 2 dense layers"):
        FaciesCNN.from_keras(tmp_path / "w.h5")


def test_a_non_keras_file_is_an_error(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match="not a Keras save_weights"):
        FaciesCNN.from_keras(tmp_path / "other.h5")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def _drop_a_tensor(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        del h5["dense_1"]["dense_1/bias:0"]


def _flatten_a_kernel(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        del h5["conv2d"]["conv2d/kernel:0"]
        h5["conv2d"].create_dataset("conv2d/kernel:0", data=np.zeros(99, np.float32))


def _integer_tensor(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        del h5["dense"]["dense/bias:0"]
        h5["dense"].create_dataset("dense/bias:0", data=np.zeros(32, np.int32))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(b"not an HDF5 file at all"), "not a readable Keras HDF5"),
        (_truncate, "not a readable Keras HDF5"),
        (_drop_a_tensor, "not a readable Keras HDF5"),
        (_flatten_a_kernel, r"conv2d/kernel is a float32 array of shape \(99,\)"),
        (_integer_tensor, r"dense/bias is a int32 array"),
    ],
)
def test_a_bad_h5_file_is_one_error_naming_it(tmp_path, damage, message):
    path = tmp_path / "w.h5"
    write_keras_h5(path, source_model(OPTICAL_BANDS))
    damage(path)
    with pytest.raises(WeightsError, match=message) as caught:
        FaciesCNN.from_keras(path)
    assert str(path) in str(caught.value)


# -- the published weights ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fold0_after() -> FaciesCNN:
    return FaciesCNN.from_keras(UPSTREAM / "weights" / "0_cnn_afterconfidentlearning_weights.h5")


@needs_shared
@pytest.mark.parametrize("size", [33, 32, 45])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conversion_reproduces_the_keras_softmax(fold0_after, size, dtype):
    reference = np.load(UPSTREAM / "reference" / "keras_fold0_after.npz")
    model = FaciesCNN(fold0_after.config).to(dtype).eval()
    model.load_weights(fold0_after.state_dict())
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(reference[f"x{size}"]).to(dtype)), dim=1).numpy()
    assert proba.shape == reference[f"y{size}"].shape
    assert np.abs(proba - reference[f"y{size}"]).max() < 1e-5


@needs_shared
def test_every_published_file_converts(tmp_path):
    weights = UPSTREAM / "weights"
    assert convert_cli([str(weights), str(tmp_path)]) == 0
    sources = sorted(weights.rglob("*.h5"))
    assert len([s for s in sources if s.parent == weights]) == 12
    assert len([s for s in sources if s.parent.name == "optical"]) == 6
    digests = set()
    for source in sources:
        out = tmp_path / source.relative_to(weights).parent / source.stem
        loaded = FaciesCNN.from_pretrained(out)
        assert loaded.config.bands == (OPTICAL_BANDS if source.parent.name == "optical" else BAND_NAMES)
        provenance = json.loads((out / "config.json").read_text())["provenance"]
        assert provenance["source_file"] == source.name
        assert provenance["fold"] == int(source.name[0])
        assert provenance["confident_learning"] == ("after" if "after" in source.name else "before")
        assert (
            provenance["published_name"]
            == f"{'optical-' * (source.parent.name == 'optical')}fold{source.name[0]}-"
            + provenance["confident_learning"]
        )
        digests.add(provenance["sha256"])
        expected = FaciesCNN.from_keras(source).state_dict()
        assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    assert len(digests) == 18
