"""Readers see one revision of a dataset folder, and say so when a prune or rebuild replaced it under them."""

import pytest

import dataset_builder.loading as loading
from dataset_builder.errors import DatasetChangedError
from dataset_builder.loading import TorchPatches, load_cv_split, load_facies
from dataset_builder.testing import write_fake_released
from dataset_builder.writer import dataset_revision, iter_rows
from hub_cards.dataset_folder import build_dataset
from modeling.evaluation import dataset_revision as results_revision
from modeling.training.data import load_fold


@pytest.fixture
def root(tmp_path):
    write_fake_released(tmp_path / "a", per_fold=4, seed=1)
    write_fake_released(tmp_path / "b", per_fold=3, seed=2)
    build_dataset(tmp_path / "a", tmp_path / "ds", rows_per_shard=2, row_group_size=1, progress=False)
    return tmp_path


def replace(root, source="b"):
    """What a prune or rebuild does to the folder: an atomic swap to other rows."""
    build_dataset(root / source, root / "ds", rows_per_shard=2, row_group_size=1, progress=False)


def sample_ids(tables) -> list[str]:
    return [sid for table in tables for sid in table.column("sample_id").to_pylist()]


def test_iter_rows_reads_one_revision_while_the_folder_is_replaced(root):
    before = sample_ids(iter_rows(root / "ds", columns=["sample_id"]))
    revision = dataset_revision(root / "ds")
    reader = iter_rows(root / "ds", columns=["sample_id"])
    first = next(reader)
    replace(root)
    assert sample_ids([first, *reader]) == before and len(before) == 24
    with pytest.raises(DatasetChangedError, match="since that revision was read"):
        next(iter_rows(root / "ds", columns=["sample_id"], revision=revision))
    assert len(sample_ids(iter_rows(root / "ds", columns=["sample_id"]))) == 18


def test_a_load_overtaken_by_a_rebuild_says_so(root, monkeypatch):
    load, sources = loading.load_dataset, iter(["b", "a"])

    def overtaken(*args, **kwargs):
        out = load(*args, **kwargs)
        replace(root, next(sources))
        return out

    monkeypatch.setattr(loading, "load_dataset", overtaken)
    with pytest.raises(DatasetChangedError, match="changed while it was being read"):
        load_facies(root / "ds", "full")
    with pytest.raises(DatasetChangedError):
        load_fold(root / "ds", 0)


def test_reads_pinned_to_a_revision_and_a_fold_names_the_one_it_read(root):
    revision = dataset_revision(root / "ds")
    assert revision == results_revision(root / "ds")
    data = load_fold(root / "ds", 0)
    assert data.revision == revision and len(data.test) == 4
    replace(root)
    with pytest.raises(DatasetChangedError, match="since that revision was read"):
        load_cv_split(root / "ds", 0, revision=revision)
    assert len(load_cv_split(root / "ds", 0, revision=dataset_revision(root / "ds"))["test"]) == 3


def test_a_loaded_split_stays_its_revision_after_the_folder_is_replaced(root):
    split = load_facies(root / "ds", "full")["fold_2"]
    view = TorchPatches(split)
    expected = [view[i]["sample_id"] for i in range(len(view))]
    replace(root)
    assert view[list(range(len(view)))]["sample_id"] == expected and len(expected) == 4
