"""PyTorch access to a built dataset: a standard map-style dataset, the batched path, samples, plots."""

import pickle

import numpy as np
import pyarrow as pa
import pytest
import torch
from datasets import concatenate_datasets
from matplotlib.figure import Figure
from torch.utils.data import DataLoader, DistributedSampler, default_collate

from dataset_builder.loading import TorchPatches, load_facies, torch_loader
from dataset_builder.schema import CLASS_NAMES
from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch")
    write_fake_released(root / "src", per_fold=7, seed=2)
    build_dataset(root / "src", root / "ds", rows_per_shard=3, row_group_size=2, progress=False)
    return load_facies(root / "ds", "full")["fold_1"]


def ids(batches) -> list[str]:
    return [sid for b in batches for sid in b["sample_id"]]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_plain_dataloader_batches_every_row_once(split, batch_size, num_workers):
    view = TorchPatches(split)
    batches = list(DataLoader(view, batch_size=batch_size, shuffle=True, num_workers=num_workers))
    assert sorted(ids(batches)) == sorted(split[:]["sample_id"])
    first = batches[0]
    n = min(batch_size, len(view))
    assert first["image"].shape == (n, 11, 33, 33) and first["image"].dtype == torch.float32
    assert first["label"].shape == (n,) and first["label"].dtype == torch.int64
    assert first["fold"].tolist() == [1] * n and first["x"].dtype == torch.float64
    rows = [split[:]["sample_id"].index(s) for s in first["sample_id"]]
    np.testing.assert_array_equal(first["image"].numpy(), view.patches(rows))
    assert first["label"].tolist() == [split[r]["label"] for r in rows]


def test_distributed_sampler_splits_the_rows_between_ranks(split):
    view = TorchPatches(split)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(view, num_replicas=2, rank=rank, shuffle=True, seed=0, drop_last=True)
        seen.append(ids(DataLoader(view, batch_size=2, sampler=sampler)))
    assert not set(seen[0]) & set(seen[1]) and len(seen[0]) == len(seen[1]) == len(view) // 2


def test_a_sample_is_a_torchgeo_style_dict(split):
    sample = TorchPatches(split, bands=("green", "red", "slope"))[4]
    row = split[4]
    assert sample["image"].shape == (3, 33, 33) and sample["image"].dtype == torch.float32
    np.testing.assert_array_equal(sample["image"].numpy(), np.asarray(row["patch"], np.float32)[[1, 2, 7]])
    assert int(sample["label"]) == row["label"] and sample["label"].dtype == torch.int64
    for key in ("sample_id", "glacier", "date", "scene", "crs"):
        assert sample[key] == row[key]
    assert sample["sensor"] == (row["sensor"] or "") and int(sample["fold"]) == 1
    assert float(sample["x"]) == row["x"] and float(sample["y"]) == row["y"]


def test_batched_path_equals_collated_samples_and_loader_options(split):
    view = TorchPatches(split)
    batch, samples = view[[5, 0, 2]], default_collate(view.__getitems__([5, 0, 2]))
    assert batch.keys() == samples.keys()
    for key, value in batch.items():
        assert torch.equal(value, samples[key]) if torch.is_tensor(value) else value == samples[key]
    runs = [ids(torch_loader(view, batch_size=4, shuffle=True, seed=7, num_workers=w)) for w in (0, 2)]
    assert runs[0] == runs[1] and sorted(runs[0]) == sorted(split[:]["sample_id"]) and runs[0] != split[:]["sample_id"]
    pinned = next(iter(torch_loader(view, batch_size=4, pin_memory=torch.cuda.is_available())))
    assert pinned["image"].shape == (4, 11, 33, 33) and pinned["sample_id"] == split[:]["sample_id"][:4]


def test_transforms_apply_to_every_sample_on_both_paths(split):
    def flip(sample):
        return {**sample, "image": sample["image"].flip(-1), "flipped": True}

    plain, flipped = TorchPatches(split), TorchPatches(split, transforms=flip)
    assert torch.equal(flipped[3]["image"], plain[3]["image"].flip(-1)) and flipped[3]["flipped"]
    batch = next(iter(torch_loader(flipped, batch_size=4)))
    assert torch.equal(batch["image"], plain[[0, 1, 2, 3]]["image"].flip(-1)) and batch["flipped"].all()
    assert next(iter(DataLoader(flipped, batch_size=2)))["flipped"].tolist() == [True, True]


def test_any_row_selection_reads_the_selected_rows(split):
    for selection in (split.shuffle(seed=3), split.select([6, 1, 4]), split.filter(lambda r: r["label"] % 2 == 0)):
        view = TorchPatches(selection)
        assert len(view) == len(selection)
        assert ids(torch_loader(view, batch_size=2)) == selection[:]["sample_id"]
        np.testing.assert_array_equal(view.patches([1])[0], np.asarray(selection[1]["patch"], np.float32))
        assert view.labels.tolist() == selection[:]["label"]


def test_a_view_pickles_without_its_rows(split):
    view = TorchPatches(split)
    assert len(pickle.dumps(view)) < view.patches(range(len(view))).nbytes / 4
    again = pickle.loads(pickle.dumps(view))
    assert again[2]["sample_id"] == view[2]["sample_id"] and torch.equal(again[2]["image"], view[2]["image"])


def test_plot_shows_true_colour_and_the_other_bands(split):
    view = TorchPatches(split)
    sample = {**view[0], "prediction": torch.tensor(2)}
    fig = view.plot(sample)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "true colour",
        "nir",
        "swir1",
        "swir2",
        "elevation",
        "slope",
        "shadow_mask",
        "hillshade",
        "proximity",
    ]
    heading = fig._suptitle.get_text()
    assert f"label: {CLASS_NAMES[int(sample['label'])]}" in heading and "predicted: debris" in heading
    no_rgb = TorchPatches(split, bands=("nir", "elevation"))
    assert [ax.get_title() for ax in no_rgb.plot(no_rgb[0]).axes] == ["nir", "elevation"]


@pytest.fixture
def arrow_pool():
    """A pyarrow memory pool recording its peak allocation (install it only around reads whose Arrow buffers are
    freed before the test ends: no buffer may outlive its pool)."""
    return pa.proxy_memory_pool(pa.default_memory_pool())


@pytest.mark.parametrize("mapped", [False, True])
def test_batch_reads_gather_per_record_batch_without_copying_the_column(split, arrow_pool, mapped):
    parts = [split, split.shuffle(seed=1), split.select([3, 0, 5])] if mapped else [split, split, split]
    rows = concatenate_datasets(parts)
    column = rows.data.table.column("patch")
    assert column.num_chunks > 4  # a many-chunk column, on which pyarrow's take concatenates every chunk first
    view = TorchPatches(rows, bands=("red", "nir"))
    view[[0]]  # the metadata in one chunk, made once
    indices = np.random.default_rng(0).permutation(len(rows))[:3]
    indices[-1] -= len(rows)  # a negative index counts from the end
    previous = pa.default_memory_pool()
    pa.set_memory_pool(arrow_pool)
    try:
        batch = view[indices]
    finally:
        pa.set_memory_pool(previous)
    expected = np.stack([np.asarray(rows[int(i)]["patch"], np.float32)[[2, 3]] for i in indices])
    np.testing.assert_array_equal(batch["image"].numpy(), expected)
    assert batch["sample_id"] == [rows[int(i)]["sample_id"] for i in indices]
    # a view in table order copies no patch through Arrow, a select / shuffle / filter view only the batch's patches
    rows_read = len(indices) * (2 if mapped else 1)
    assert arrow_pool.max_memory() < column.nbytes / len(rows) * rows_read < column.nbytes


def test_indices_out_of_range_are_refused(split):
    view = TorchPatches(split.shuffle(seed=0))
    for bad in ([len(view)], [-len(view) - 1]):
        with pytest.raises(IndexError, match="row indices"):
            view.patches(bad)
    assert view.patches([]).shape == (0, 11, 33, 33)
