"""Test-wide settings: fully offline, with a private Hugging Face cache, set before any HF import."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="glacier-facies-tests-hf-")
os.environ.setdefault("MPLBACKEND", "Agg")


import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from dataset_builder.testing import write_fake_released  # noqa: E402
from hub_cards.dataset_folder import build_dataset  # noqa: E402

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


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
