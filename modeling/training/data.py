"""The data of one cross-validation fold: split views, sample weights, training-fold statistics, network inputs.

Protocol (``dataset_builder.schema.cv_split``): test fold t, validation fold t-1, the other four train.
Normalisation is the per-band min/max of the training folds only (``DatasetStatistics.for_splits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from datasets.exceptions import DatasetGenerationError

from dataset_builder.errors import FileFormatError
from dataset_builder.files import sha256_file
from dataset_builder.loading import TorchPatches, consistent_read, dataset_bands, load_cv_split, load_facies
from dataset_builder.schema import PATCH_SIZE, SPLIT_NAMES, CVSplit, check_bands, cv_split
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.writer import read_manifest
from modeling.network import FaciesCNNConfig, normalize
from modeling.training.config import TrainConfig
from modeling.training.recipe import sample_weights


def centre_crop(patches: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size`` x ``size`` window of patches (N, bands, H, W), keeping the centre pixel (H//2, W//2)."""
    h, w = patches.shape[2:]
    if size > min(h, w):
        raise ValueError(f"crop {size} is larger than the patches ({h} x {w})")
    top, left = h // 2 - size // 2, w // 2 - size // 2
    return patches[:, :, top : top + size, left : left + size]


def raw_inputs(view: TorchPatches, indices: np.ndarray, config: FaciesCNNConfig) -> np.ndarray:
    """Raw patches at ``indices``, centre-cropped to ``config.patch_size``; non-finite pixels set to the
    band's normalisation minimum (0 after normalisation). float32 (N, bands, size, size)."""
    patches = centre_crop(view.patches(indices), config.patch_size)
    bad = ~np.isfinite(patches)
    if bad.any():
        lo = np.asarray(config.normalization["min"], dtype=np.float32)[None, :, None, None]
        patches = np.where(bad, lo, patches)
    return patches


def model_inputs(view: TorchPatches, indices: np.ndarray, config: FaciesCNNConfig) -> np.ndarray:
    """Normalised network inputs at ``indices``: float32 (N, bands, size, size)."""
    return normalize(raw_inputs(view, indices, config), config)


class SplitInputs:
    """Normalised inputs and labels of one split (or this rank's rows of it), in memory or read per batch."""

    def __init__(self, view: TorchPatches, config: FaciesCNNConfig, rows: np.ndarray, cache: bool, chunk: int = 2048):
        self.view, self.config, self.rows = view, config, np.asarray(rows, dtype=np.int64)
        self.labels = view.labels.numpy()[self.rows]
        self._cache = None
        if cache:
            self._cache = np.concatenate(
                [np.zeros((0, config.num_bands, config.patch_size, config.patch_size), np.float32)]
                + [model_inputs(view, self.rows[i : i + chunk], config) for i in range(0, len(self.rows), chunk)]
            )

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def in_memory(self) -> bool:
        """The normalised inputs are held in memory (else read from the Arrow files per batch)."""
        return self._cache is not None

    def inputs(self, positions: np.ndarray) -> np.ndarray:
        """Normalised inputs of the split's rows at ``positions`` (indices into ``rows``)."""
        if self._cache is not None:
            return self._cache[positions]
        return model_inputs(self.view, self.rows[positions], self.config)


def input_bytes(rows: int, config: FaciesCNNConfig) -> int:
    """Bytes of ``rows`` normalised float32 inputs of the config's shape."""
    return 4 * rows * config.num_bands * config.patch_size**2


@dataclass
class FoldData:
    """The data of one cross-validation fold: views of the splits, sample weights, training statistics.

    Attributes:
        split: the fold's protocol (test, validation, train folds).
        bands: the bands the views return.
        train, validation: the ``dataset_config`` rows of the training and validation folds.
        test: every row of the test fold (``full`` config), predicted for evaluation and pruning.
        test_ids: (N_test,) sample ids of ``test``.
        weights: (N_train,) float32 sample weights (all 1 without class/scene weighting).
        statistics: band statistics of the training folds only (the normalisation source).
        revision: the dataset revision every part was read from (``dataset_builder.writer.dataset_revision``).
    """

    dataset_dir: Path
    dataset_config: str
    split: CVSplit
    bands: tuple[str, ...]
    train: TorchPatches
    validation: TorchPatches
    test: TorchPatches
    test_ids: np.ndarray
    weights: np.ndarray
    statistics: DatasetStatistics
    revision: str


def unreadable_dataset_error(dataset_dir: Path, error: Exception) -> FileFormatError:
    """The error of a built dataset that ``datasets`` could not read: naming the first shard that is missing or whose
    sha256 differs from ``manifest.json`` (found only now, on this error path), else the folder and the cause."""
    for shard in read_manifest(dataset_dir)["shards"]:
        path = dataset_dir / shard["path"]
        if not path.is_file() or sha256_file(path) != shard["sha256"]:
            return FileFormatError(
                f"{path}: missing or corrupted (sha256 differs from manifest.json); rebuild the dataset"
            )
    cause = error.__cause__ or error
    return FileFormatError(f"{dataset_dir}: a shard could not be read ({type(cause).__name__}: {cause})")


def load_fold(
    dataset_dir: str | Path,
    test_fold: int,
    *,
    dataset_config: str = "pruned",
    bands: Sequence[str] | None = None,
    class_scene_weights: bool = True,
) -> FoldData:
    """Views of the fold's splits (``bands``, default all the dataset holds) and the training folds' statistics,
    all of one dataset revision (``DatasetChangedError`` when a prune or rebuild replaced the folder meanwhile)."""
    dataset_dir = Path(dataset_dir)
    split = cv_split(test_fold)
    with consistent_read(dataset_dir) as revision:
        held = dataset_bands(dataset_dir)
        try:
            parts = load_cv_split(dataset_dir, split.test, dataset_config, revision=revision)
            test = load_facies(dataset_dir, "full", revision=revision)[SPLIT_NAMES[split.test]]
        except DatasetGenerationError as err:
            raise unreadable_dataset_error(dataset_dir, err) from err
        statistics = DatasetStatistics.load(dataset_dir).for_splits(split.split_names["train"])
    bands = check_bands(bands) if bands else held
    meta = parts["train"].select_columns(["label", "scene"]).with_format("arrow")[:]  # in the view's row order
    labels = meta.column("label").to_numpy()
    weights = (
        sample_weights(labels, np.asarray(meta.column("scene").to_pylist()))
        if class_scene_weights
        else np.ones(len(labels), np.float32)
    )
    return FoldData(
        dataset_dir=dataset_dir,
        dataset_config=dataset_config,
        split=split,
        bands=bands,
        train=TorchPatches(parts["train"], bands, dataset_bands=held),
        validation=TorchPatches(parts["validation"], bands, dataset_bands=held),
        test=TorchPatches(test, bands, dataset_bands=held),
        test_ids=np.asarray(
            test.select_columns(["sample_id"]).with_format("arrow")[:].column("sample_id").to_pylist(), dtype=object
        ),
        weights=weights,
        statistics=statistics,
        revision=revision,
    )


def model_config(data: FoldData, config: TrainConfig) -> FaciesCNNConfig:
    """The network's config for a fold: bands, crop size, architecture overrides, training-fold min/max."""
    return FaciesCNNConfig(bands=data.bands, patch_size=config.crop or PATCH_SIZE, **config.model).with_statistics(
        data.statistics
    )
