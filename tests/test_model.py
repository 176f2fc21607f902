"""FaciesCNN: architecture, config, hub save/load (strict, safetensors only) and prediction on raw values."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.hub_mixin
import numpy as np
import pytest
import torch
from huggingface_hub import EvalResult
from safetensors.torch import load_file, save_file

from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS
from dataset_builder.statistics import BandStatistics, DatasetStatistics
from hub_cards.common import DATASET_REPO_ID
from modeling import FaciesCNN, FaciesCNNConfig, normalize
from modeling.errors import ConfigError, NormalizationMissingError, WeightsError

BAND_SUBSETS = {
    6: OPTICAL_BANDS,
    8: OPTICAL_BANDS + ("elevation", "slope"),
    10: BAND_NAMES[:-1],
    11: BAND_NAMES,
}


def randomised(model: FaciesCNN, seed: int = 0) -> FaciesCNN:
    """Give every BatchNorm non-trivial statistics and affine weights, so tests see all tensors."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=g) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=g) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=g) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=g) * 0.1)
    return model.eval()


def assert_same_state(a: FaciesCNN, b: FaciesCNN) -> None:
    expected = b.state_dict()
    assert sorted(a.state_dict()) == sorted(expected)
    for key, value in a.state_dict().items():
        assert torch.equal(value, expected[key]), key


def fake_statistics(bands=BAND_NAMES, seed: int = 1) -> DatasetStatistics:
    rng = np.random.default_rng(seed)
    stats = []
    for name in bands:
        lo = float(rng.uniform(-10, 10))
        hi = lo + float(rng.uniform(1, 100))
        stats.append(BandStatistics(name=name, unit="u", min=lo, max=hi, mean=(lo + hi) / 2, std=1.0))
    return DatasetStatistics(bands=stats, dtype="float32", patch_size=33, num_rows=10)


def make_model(bands=BAND_NAMES, seed: int = 0, **config) -> FaciesCNN:
    torch.manual_seed(seed)
    return randomised(FaciesCNN(FaciesCNNConfig(bands=tuple(bands), **config)), seed)


def raw_patches(config: FaciesCNNConfig, n: int, size: int, seed: int = 2) -> np.ndarray:
    """Raw values spread over each band's [min, max] range."""
    rng = np.random.default_rng(seed)
    unit = rng.uniform(0, 1, size=(n, config.num_bands, size, size))
    lo = np.asarray(config.normalization["min"])[None, :, None, None]
    hi = np.asarray(config.normalization["max"])[None, :, None, None]
    return (lo + unit * (hi - lo)).astype(np.float32)


# -- architecture -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bands, expected", [(BAND_NAMES, 200_072), (OPTICAL_BANDS, 197_192)])
def test_parameter_count_matches_the_published_model(bands, expected):
    assert FaciesCNN(FaciesCNNConfig(bands=bands)).parameter_count() == expected


def test_batch_norm_uses_keras_defaults():
    bns = [m for m in FaciesCNN(FaciesCNNConfig()).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 6
    assert all(bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01) for bn in bns)


@pytest.mark.parametrize("n_bands", sorted(BAND_SUBSETS))
@pytest.mark.parametrize("size", [33, 32, 45, 7])
def test_output_shape_and_probability_sums(n_bands, size):
    bands = BAND_SUBSETS[n_bands]
    model = make_model(bands).with_statistics(fake_statistics())
    patches = raw_patches(model.config, 3, size)
    with torch.no_grad():
        logits = model(torch.from_numpy(normalize(patches, model.config)))
    assert logits.shape == (3, 8)
    proba = model.predict_proba(patches)
    assert proba.shape == (3, 8) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.predict(patches), proba.argmax(axis=1))


def test_features_keep_the_centre_pixel_of_both_scales():
    model = make_model()
    x = torch.randn(2, 11, 32, 32)
    with torch.no_grad():
        map1 = model.scale1(x)
        map2 = model.scale2(map1)
        feats = model.features(x)
    assert map2.shape[2:] == (10, 10)  # 3x3 "valid" max-pool, stride 3
    torch.testing.assert_close(feats[:, :64], map1[:, :, 16, 16])
    torch.testing.assert_close(feats[:, 64:128], map2[:, :, 5, 5])
    torch.testing.assert_close(feats[:, 128:], map2.amax(dim=(2, 3)))


def test_wrong_channel_count_is_an_error():
    with pytest.raises(ValueError, match=r"\(N, 6, H, W\)"):
        make_model(OPTICAL_BANDS)(torch.zeros(1, 11, 33, 33))


# -- config -------------------------------------------------------------------------------------------


def test_config_round_trips_through_json():
    config = FaciesCNNConfig(
        bands=OPTICAL_BANDS,
        calibration={"temperature": 1.5},
        provenance={"source_file": "x.h5", "fold": 2},
    ).with_statistics(fake_statistics())
    again = FaciesCNNConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.normalization["min"] == fake_statistics().minmax(OPTICAL_BANDS)[0]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"bands": ["blue", "nope"]}, "nope"),
        ({"bands": ["green", "blue"]}, "published order"),
        ({"class_names": ["ice", "superimposed"]}, "canonical"),
        ({"filters": [64]}, "filters"),
        ({"dropout": 1.5}, "dropout"),
        ({"normalization": {"min": [0.0], "max": [1.0]}}, "normalization.min"),
        ({"normalization": {"min": [0.0] * 11, "max": [0.0] * 11}}, "min < max"),
        ({"calibration": {"temperature": 1.0, "bias": 0.1}}, "bias"),
        ({"calibration": {"temperature": 0}}, "temperature"),
        ({"bands": OPTICAL_BANDS, "per_glacier_elevation_scaling": True}, "elevation"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_config_is_an_error_naming_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        FaciesCNNConfig.from_dict({**FaciesCNNConfig().to_dict(), **changes})


# -- save / load ----------------------------------------------------------------------------------------


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    model = make_model(BAND_SUBSETS[8], calibration={"temperature": 1.3}).with_statistics(fake_statistics())
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == model.config.to_dict()
    loaded = FaciesCNN.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    x = torch.randn(3, 8, 33, 33)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert_same_state(loaded, model)


def test_saving_again_replaces_the_files(tmp_path):
    make_model(seed=1).save_pretrained(tmp_path)
    second = make_model(OPTICAL_BANDS, seed=2)
    second.save_pretrained(tmp_path)
    loaded = FaciesCNN.from_pretrained(tmp_path)
    assert loaded.config.bands == OPTICAL_BANDS
    assert "(6 bands)" in (tmp_path / "README.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_save_pretrained_refuses_a_foreign_config(tmp_path):
    with pytest.raises(ValueError, match="its own config"):
        make_model().save_pretrained(tmp_path, config={"bands": ["blue"]})


def _edit_weights(folder, edit):
    tensors = load_file(str(folder / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.pop("output.bias"), r"missing tensor\(s\): \['output.bias'\]"),
        (lambda t: t.update(extra=torch.zeros(2)), r"unexpected tensor\(s\): \['extra'\]"),
        (
            lambda t: t.update({"output.bias": torch.zeros(9)}),
            r"output.bias: \(9,\) in the weights, \(8,\) in the model",
        ),
    ],
)
def test_loading_is_strict_about_tensors(tmp_path, edit, message):
    make_model().save_pretrained(tmp_path)
    _edit_weights(tmp_path, edit)
    with pytest.raises(WeightsError, match=message):
        FaciesCNN.from_pretrained(tmp_path)


def test_loading_reports_a_band_count_mismatch(tmp_path):
    make_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "bands": list(OPTICAL_BANDS)}))
    with pytest.raises(WeightsError, match=r"stage1.0.conv.weight: \(64, 11, 3, 3\) in the weights, \(64, 6, 3, 3\)"):
        FaciesCNN.from_pretrained(tmp_path)


def test_loading_rejects_unknown_config_fields(tmp_path):
    make_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_size": 512}))
    with pytest.raises(ConfigError, match="hidden_size"):
        FaciesCNN.from_pretrained(tmp_path)


def test_loading_never_falls_back_to_pickled_weights(tmp_path):
    make_model().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"never read")
    with pytest.raises(WeightsError, match=r"pytorch_model.bin.*pickles.*safetensors"):
        FaciesCNN.from_pretrained(tmp_path)


def test_loading_needs_a_config(tmp_path):
    make_model().save_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        FaciesCNN.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such model folder, and no hub repository id"):
        FaciesCNN.from_pretrained(tmp_path / "missing" / "model")


# -- prediction on raw values -----------------------------------------------------------------------


def test_predict_without_statistics_says_where_to_get_them():
    model = make_model()
    with pytest.raises(NormalizationMissingError, match="--stats DATASET_FOLDER"):
        model.predict_proba(np.zeros((1, 11, 33, 33), dtype=np.float32))


def test_predict_proba_applies_the_min_max_normalisation():
    model = make_model().with_statistics(fake_statistics())
    patches = raw_patches(model.config, 4, 33)
    lo, hi = fake_statistics().minmax(BAND_NAMES)
    unit = (patches - np.asarray(lo)[None, :, None, None]) / (np.asarray(hi) - np.asarray(lo))[None, :, None, None]
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(unit.astype(np.float32))), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(torch.from_numpy(patches)), expected, atol=1e-6)


def test_predict_proba_is_batched_in_eval_mode_and_restores_the_mode():
    model = make_model().with_statistics(fake_statistics())
    patches = raw_patches(model.config, 7, 21)
    reference = model.predict_proba(patches, batch_size=100)
    model.train()
    np.testing.assert_allclose(model.predict_proba(patches, batch_size=3), reference, atol=1e-6)
    assert model.training


def test_compiled_prediction_matches_eager_and_leaves_the_weights_alone(tmp_path):
    model = make_model().with_statistics(fake_statistics())
    patches = raw_patches(model.config, 5, 15)
    eager = model.predict_proba(patches, batch_size=2)
    np.testing.assert_allclose(model.predict_proba(patches, batch_size=2, compile=True), eager, atol=1e-5)
    assert not any(k.startswith("_compiled") for k in model.state_dict())  # the compiled wrapper is no submodule
    model.save_pretrained(tmp_path)
    np.testing.assert_allclose(FaciesCNN.from_pretrained(tmp_path).predict_proba(patches), eager, atol=1e-6)


def test_temperature_calibration_is_applied():
    plain = make_model().with_statistics(fake_statistics())
    calibrated = FaciesCNN(plain.config.replace(calibration={"temperature": 2.0}))
    calibrated.load_weights(plain.state_dict())
    patches = raw_patches(plain.config, 4, 33)
    with torch.no_grad():
        logits = plain(torch.from_numpy(normalize(patches, plain.config)))
    expected = torch.softmax(logits / 2.0, dim=1).numpy()
    np.testing.assert_allclose(calibrated.predict_proba(patches), expected, atol=1e-6)
    assert not np.allclose(plain.predict_proba(patches), expected, atol=1e-3)


def test_per_glacier_elevation_scaling_needs_and_uses_the_glacier_range():
    model = make_model(per_glacier_elevation_scaling=True).with_statistics(fake_statistics())
    patches = raw_patches(model.config, 2, 33)
    e = BAND_NAMES.index("elevation")
    patches[:, e] = np.random.default_rng(3).uniform(2000, 3500, size=patches[:, e].shape)
    with pytest.raises(ValueError, match="elevation_range"):
        model.predict_proba(patches)
    ranges = np.array([[2000.0, 3500.0], [1800.0, 4000.0]])
    scaled = patches.astype(np.float64).copy()
    scaled[:, e] = (scaled[:, e] - ranges[:, :1, None]) / (ranges[:, 1:, None] - ranges[:, :1, None])
    lo, hi = model.config.normalization["min"], model.config.normalization["max"]
    unit = (scaled - np.asarray(lo)[None, :, None, None]) / (np.asarray(hi) - np.asarray(lo))[None, :, None, None]
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(unit.astype(np.float32))), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(patches, elevation_range=ranges), want, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(patches[:1], elevation_range=(2000.0, 3500.0)), want[:1], atol=1e-6)


def test_elevation_range_without_per_glacier_scaling_is_an_error():
    model = make_model().with_statistics(fake_statistics())
    with pytest.raises(ValueError, match="does not use per-glacier"):
        model.predict_proba(raw_patches(model.config, 1, 33), elevation_range=(0.0, 1.0))


def test_non_finite_patches_are_an_error():
    model = make_model().with_statistics(fake_statistics())
    patches = raw_patches(model.config, 1, 33)
    patches[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(patches)


# -- the hub (offline: a pre-filled cache and a stand-in for HfApi) ---------------------------------------


def test_from_pretrained_reads_a_hub_repo_from_the_cache(tmp_path):
    model = make_model(OPTICAL_BANDS)
    commit = "0" * 40
    repo = tmp_path / "cache" / "models--someone--facies-cnn"
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = FaciesCNN.from_pretrained("someone/facies-cnn", cache_dir=tmp_path / "cache")
    assert loaded.config == model.config
    assert_same_state(loaded, model)


class FakeApi:
    """Stands in for ``huggingface_hub.HfApi`` in the mixin: records what ``push_to_hub`` would upload."""

    uploads: dict[str, dict[str, bytes]] = {}

    def __init__(self, token=None):
        pass

    def create_repo(self, repo_id, private=None, exist_ok=False):
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        root = Path(folder_path)
        FakeApi.uploads[repo_id] = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
        return "https://example.invalid/commit"


def test_push_to_hub_uploads_weights_config_card_and_eval_results(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.hub_mixin, "HfApi", FakeApi)
    model = make_model(training={"test_fold": 0, "validation_fold": 5})
    results = [
        EvalResult(
            task_type="image-classification",
            dataset_type=DATASET_REPO_ID,
            dataset_name="glacier facies",
            dataset_config="pruned",
            dataset_split="fold_0",
            metric_type="f1",
            metric_value=0.8,
        )
    ]
    model.push_to_hub("someone/facies-cnn", model_card_kwargs={"eval_results": results})
    files = FakeApi.uploads["someone/facies-cnn"]
    assert sorted(files) == [".eval_results/glacier-facies.yaml", "README.md", "config.json", "model.safetensors"]
    assert json.loads(files["config.json"]) == model.config.to_dict()
    (tmp_path / "model.safetensors").write_bytes(files["model.safetensors"])
    (tmp_path / "config.json").write_bytes(files["config.json"])
    assert_same_state(FaciesCNN.from_pretrained(tmp_path), model)


# -- configs and weights from anywhere: bounded, checked before anything is built ------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"depths": [1_000_000, 3]}, r"'depths' must hold integers from 1 to 16"),
        ({"filters": [1_000_000_000, 64]}, r"'filters' must hold integers from 1 to 1024"),
        ({"dense_units": [32] * 9}, "at most 8"),
        ({"dense_units": [10**12]}, "'dense_units'"),
        ({"filters": [1024, 1024], "depths": [16, 16]}, "parameters; at most 20,000,000"),
        ({"patch_size": 10**9}, "'patch_size'"),
        ({"pool_size": 34}, r"'pool_size' must hold integers from 1 to 33"),
    ],
)
def test_architecture_fields_are_bounded(tmp_path, changes, message):
    make_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **changes}))
    with pytest.raises(ConfigError, match=message) as caught:
        FaciesCNN.from_pretrained(tmp_path)
    assert str(tmp_path / "config.json") in str(caught.value)


def test_config_parameter_count_is_the_models():
    for config in (FaciesCNNConfig(), FaciesCNNConfig(bands=OPTICAL_BANDS, filters=(8, 16), depths=(2, 4))):
        assert config.parameter_count == FaciesCNN(config).parameter_count()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{nope", "not a JSON file"),
        (b'\xff\xfe{"bands": 1}', "not a JSON file"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON file"),
        (b'{"patch_size": 1' + b"0" * 5000 + b"}", "not a JSON file"),
        (b"[1, 2]", "must hold a JSON object of config fields, not a JSON list"),
        (b"null", "not a JSON NoneType"),
        (b'"bands"', "not a JSON str"),
        (b'{"bands": ' + b" " * (1 << 20) + b"[]}", "a FaciesCNN config is at most"),
    ],
)
def test_a_malformed_config_file_is_one_error_naming_it(tmp_path, content, message):
    make_model().save_pretrained(tmp_path)
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        FaciesCNN.from_pretrained(tmp_path)
    assert str(tmp_path / "config.json") in str(caught.value)


def _header(tensors: dict) -> bytes:
    header = json.dumps(tensors).encode()
    return len(header).to_bytes(8, "little") + header


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "header too small"),
        (b"\x00" * 7, "header too small"),
        ((10**12).to_bytes(8, "little") + b"{}", "header too large"),
        (b"\x05\x00\x00\x00\x00\x00\x00\x00{nope", "invalid JSON"),
        (_header({"output.bias": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}), "incomplete metadata"),
    ],
)
def test_a_broken_safetensors_file_is_one_error_naming_it(tmp_path, content, message):
    make_model().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(WeightsError, match=f"not a readable safetensors file.*{message}") as caught:
        FaciesCNN.from_pretrained(tmp_path)
    assert str(tmp_path / "model.safetensors") in str(caught.value)


def test_tensor_shapes_are_checked_from_the_header_before_the_model_is_built(tmp_path, monkeypatch):
    make_model().save_pretrained(tmp_path)
    _edit_weights(tmp_path, lambda t: t.update({"stage2.0.conv.weight": torch.zeros(4096, 64, 3, 3)}))
    built = []
    monkeypatch.setattr(FaciesCNN, "reset_parameters", lambda self: built.append(next(self.parameters()).device))
    with pytest.raises(
        WeightsError, match=r"stage2.0.conv.weight: \(4096, 64, 3, 3\) in the weights, \(64, 64, 3, 3\)"
    ):
        FaciesCNN.from_pretrained(tmp_path)
    assert built == [torch.device("meta")]  # only the allocation-free skeleton that gives the expected shapes


def test_integer_tensors_where_floats_belong_are_refused(tmp_path):
    make_model().save_pretrained(tmp_path)
    _edit_weights(tmp_path, lambda t: t.update({"output.bias": torch.zeros(8, dtype=torch.int32)}))
    with pytest.raises(WeightsError, match=r"output.bias: integer in the weights, float in the model"):
        FaciesCNN.from_pretrained(tmp_path)


def test_the_class_uses_the_hub_mixin_as_documented(tmp_path):
    info = FaciesCNN._hub_mixin_info
    assert info.model_card_data.library_name == "glacier-facies" and info.model_card_data.license == "gpl-2.0"
    model = make_model(OPTICAL_BANDS)
    assert model._hub_mixin_config is model.config  # the mixin keeps the config dataclass ...
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == model.config.to_dict()  # ... and writes it
    with pytest.raises(TypeError, match="FaciesCNNConfig"):
        FaciesCNN(model.config.to_dict())
