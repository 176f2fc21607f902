"""Loading a built dataset: configs, the published cross-validation split, a fast torch view."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset, DatasetDict, IterableDatasetDict, concatenate_datasets, load_dataset

from dataset_builder.errors import DatasetNotFoundError
from dataset_builder.schema import BAND_NAMES, SPLIT_NAMES, check_bands, cv_split
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.writer import MANIFEST_FILE

CONFIGS = ("pruned", "full")
#: Hidden folder inside a built dataset holding its Arrow cache (never published, never copied).
CACHE_DIR = ".cache"


def _check_folder(path: str | Path, config: str) -> Path:
    path = Path(path)
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; expected one of {CONFIGS}")
    if not (path / MANIFEST_FILE).is_file():
        raise DatasetNotFoundError(
            f"{path}: not a built glacier-facies dataset (no {MANIFEST_FILE}); run scripts/build_dataset.py"
        )
    return path


def load_facies(
    path: str | Path = "glacier-facies", config: str = "pruned", *, streaming: bool = False
) -> DatasetDict | IterableDatasetDict:
    """``load_dataset`` on a built folder, offline, with splits ``fold_0`` ... ``fold_5``.

    The Arrow cache goes into the folder itself (``.cache``): ``datasets`` keys its global cache by
    the folder's name and file sizes, so two different builds named alike (or a rebuild in place)
    could otherwise be served each other's rows. A rebuilt or pruned folder starts without one.
    """
    path = _check_folder(path, config)
    return load_dataset(str(path), config, streaming=streaming, cache_dir=str(path / CACHE_DIR))


def load_cv_split(path: str | Path, test_fold: int, config: str = "pruned") -> DatasetDict:
    """The published split for test fold ``t``: test = t, validation = t-1 (mod 6), train = the rest.

    Returns:
        A DatasetDict with ``train``, ``validation`` and ``test``.
    """
    folds = load_facies(path, config)
    split = cv_split(test_fold)
    out = {}
    for role, names in split.split_names.items():
        present = [folds[n] for n in names if n in folds]
        if not present:
            raise DatasetNotFoundError(
                f"{path} ({config}): no rows in {names} for the {role} role of test fold {test_fold}"
            )
        out[role] = present[0] if len(present) == 1 else concatenate_datasets(present)
    return DatasetDict(out)


def dataset_bands(path: str | Path) -> tuple[str, ...]:
    """Band names of the patches of a built dataset, in order."""
    return DatasetStatistics.load(path).band_names


class TorchPatches(torch.utils.data.Dataset):
    """Float32 CHW patches and int64 labels from a Hugging Face split, fetched a batch at a time.

    Reads straight from the memory-mapped Arrow table (no per-row Python decoding); a
    ``DataLoader`` with a batch sampler calls :meth:`__getitems__` once per batch.

    Args:
        dataset: a split of a built dataset (any row selection).
        bands: bands to return, in the published order (default: all the dataset holds).
        dataset_bands: the bands the dataset's patches hold (default: the 11 published bands).
    """

    def __init__(self, dataset: Dataset, bands: Sequence[str] | None = None, dataset_bands: Sequence[str] = BAND_NAMES):
        self.dataset = dataset.flatten_indices() if dataset._indices is not None else dataset
        held = check_bands(dataset_bands)
        self.bands = held if bands is None else check_bands(bands)
        missing = [b for b in self.bands if b not in held]
        if missing:
            raise ValueError(f"bands {missing} are not in the dataset, which holds {list(held)}")
        self._band_index = np.array([held.index(b) for b in self.bands])
        self._all_bands = len(self.bands) == len(held)
        self._patch = self.dataset.data.column("patch")
        self.labels = torch.from_numpy(np.array(self.dataset.data.column("label").to_numpy(), dtype=np.int64))
        shape = self.dataset.features["patch"].shape
        self._shape = (len(held), shape[1], shape[2])

    def __len__(self) -> int:
        return len(self.labels)

    def patches(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Patches at ``indices`` as float32, shape (N, bands, H, W)."""
        indices = np.asarray(indices, dtype=np.int64)
        taken = self._patch.take(pa.array(indices))
        if isinstance(taken, pa.ChunkedArray):
            taken = taken.combine_chunks()
        if isinstance(taken, pa.ExtensionArray):
            taken = taken.storage
        flat = taken.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
        out = flat.reshape(len(indices), *self._shape)
        if not self._all_bands:
            out = out[:, self._band_index]
        out = out.astype(np.float32, copy=False)
        return out if out.flags.writeable else out.copy()  # Arrow buffers are read-only; torch wants writable

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.patches(indices)), self.labels[np.asarray(indices)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


def torch_loader(
    patches: TorchPatches, *, batch_size: int = 512, shuffle: bool = False, seed: int = 0, drop_last: bool = False
) -> torch.utils.data.DataLoader:
    """A DataLoader yielding (float32 (B, bands, H, W), int64 (B,)) batches, one Arrow take per batch."""
    generator = torch.Generator().manual_seed(seed)
    sampler = (
        torch.utils.data.RandomSampler(patches, generator=generator)
        if shuffle
        else torch.utils.data.SequentialSampler(patches)
    )
    batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last)
    return torch.utils.data.DataLoader(patches, batch_sampler=batches, collate_fn=_identity)


def _identity(batch):
    return batch


__all__ = ["CONFIGS", "SPLIT_NAMES", "TorchPatches", "dataset_bands", "load_cv_split", "load_facies", "torch_loader"]
