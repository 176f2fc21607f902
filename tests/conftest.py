"""Test-wide settings: fully offline, with a private Hugging Face cache, set before any HF import."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
#: The private cache, removed when the test process exits (its finalizer runs at interpreter exit).
HF_HOME = tempfile.TemporaryDirectory(prefix="glacier-facies-tests-hf-")
os.environ["HF_HOME"] = HF_HOME.name
os.environ.setdefault("MPLBACKEND", "Agg")


import dataclasses  # noqa: E402
import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rasterio  # noqa: E402
import torch  # noqa: E402

from dataset_builder.schema import BAND_NAMES  # noqa: E402
from dataset_builder.synthetic import SyntheticConfig, generate  # noqa: E402
from dataset_builder.testing import write_fake_released  # noqa: E402
from hub_cards.dataset_folder import build_dataset  # noqa: E402
from modeling.network import FaciesCNN, FaciesCNNConfig  # noqa: E402

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
#: The tiny synthetic benchmark of the mapping tests: 6 glaciers, one 132 px scene each.
TINY_BENCHMARK = dataclasses.replace(SyntheticConfig.quick(), scenes_per_glacier=1, scene_size=132, n_labels=150)


@pytest.fixture
def script():
    """Import ``scripts/NAME.py`` as a module, so tests can call its ``main(argv)``."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def fake_dataset(tmp_path_factory):
    """Build a dataset folder (with its card) from a seeded fake released-layout source: ``fake_dataset(**kwargs)``
    takes :func:`dataset_builder.testing.write_fake_released`'s options and returns the folder. Each call builds a
    new folder, so a module may change its dataset without touching another's."""

    def build(**fake_options) -> Path:
        root = tmp_path_factory.mktemp("fake-dataset")
        write_fake_released(root / "source", **fake_options)
        build_dataset(root / "source", root / "ds", progress=False)
        return root / "ds"

    return build


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """:data:`TINY_BENCHMARK` generated once per session (read-only for the tests)."""
    out = tmp_path_factory.mktemp("bench") / "synthetic"
    generate(out, TINY_BENCHMARK, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_benchmark, tmp_path_factory) -> Path:
    """A small random FaciesCNN saved as a hub folder (safetensors), normalised for the tiny benchmark's scenes."""
    lo, hi = np.full(len(BAND_NAMES), np.inf), np.full(len(BAND_NAMES), -np.inf)
    for path in (tiny_benchmark / "scenes").glob("*.tif"):
        data = rasterio.open(path).read()
        lo, hi = np.minimum(lo, np.nanmin(data, axis=(1, 2))), np.maximum(hi, np.nanmax(data, axis=(1, 2)))
    torch.manual_seed(0)
    config = FaciesCNNConfig(
        filters=(8, 8), dense_units=(8,), normalization={"min": lo.tolist(), "max": (hi + 1e-3).tolist()}
    )
    folder = tmp_path_factory.mktemp("model") / "tiny-facies"
    FaciesCNN(config).save_pretrained(folder)
    return folder
