"""Loading a built dataset: configs, the published cross-validation split, PyTorch access.

The readers here read one revision of a folder (:func:`dataset_builder.writer.dataset_revision`): they take the
revision at the start and check it at the end, and raise :class:`DatasetChangedError` when a prune or rebuild
replaced the folder meanwhile; ``revision=`` pins several reads to one revision. A loaded split is memory-mapped
and stays that revision's rows even after the folder is replaced.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset, DatasetDict, IterableDatasetDict, concatenate_datasets, load_dataset
from matplotlib.figure import Figure
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, default_collate

from dataset_builder.errors import DatasetNotFoundError
from dataset_builder.quicklook import true_colour
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, SPLIT_NAMES, check_bands, cv_split
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.writer import MANIFEST_FILE, check_revision, dataset_revision

CONFIGS = ("pruned", "full")
#: Hidden folder inside a built dataset holding its Arrow cache (never published, never copied).
CACHE_DIR = ".cache"
#: Bands of the true-colour composite, in the order :func:`dataset_builder.quicklook.true_colour` takes them.
TRUE_COLOUR = ("blue", "green", "red")
#: Metadata of a sample held as text ("" where unknown) and as tensors (dtype), besides ``image`` and ``label``.
TEXT_METADATA = ("sample_id", "glacier", "date", "scene", "sensor", "crs")
TENSOR_METADATA = {"fold": torch.int64, "x": torch.float64, "y": torch.float64}
#: Panels per row of :meth:`TorchPatches.plot`.
PLOT_COLUMNS = 5

#: A sample or a collated batch: ``image``, ``label`` and the metadata (see :class:`TorchPatches`).
Sample = dict[str, Any]


def _check_folder(path: str | Path, config: str) -> Path:
    path = Path(path)
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; expected one of {CONFIGS}")
    if not (path / MANIFEST_FILE).is_file():
        raise DatasetNotFoundError(
            f"{path}: not a built glacier-facies dataset (no {MANIFEST_FILE}); run scripts/build_dataset.py"
        )
    return path


@contextlib.contextmanager
def consistent_read(path: str | Path, revision: str | None = None) -> Iterator[str]:
    """Yield the revision of the built folder ``path`` and check, when the block ends, that it still is.

    Args:
        revision: the revision the reads must see (default: the folder's revision at the start).

    Raises:
        DatasetChangedError: the folder is not at that revision, at the start or at the end of the block (or when
            reading inside it failed with an ``OSError``): a prune or rebuild replaced it meanwhile.
    """
    if revision is not None:
        check_revision(path, revision, when="since that revision was read")
    expected = revision or dataset_revision(path)
    try:
        yield expected
    except OSError:
        check_revision(path, expected)  # a file that vanished mid-read: the folder was replaced
        raise
    check_revision(path, expected)


def load_facies(
    path: str | Path = "glacier-facies",
    config: str = "pruned",
    *,
    streaming: bool = False,
    revision: str | None = None,
) -> DatasetDict | IterableDatasetDict:
    """``load_dataset`` on a built folder, offline, with splits ``fold_0`` ... ``fold_5``, of one revision.

    The Arrow cache goes into the folder itself (``.cache``): ``datasets`` keys its global cache by
    the folder's name and file sizes, so two different builds named alike (or a rebuild in place)
    could otherwise be served each other's rows. A rebuilt or pruned folder starts without one.

    Args:
        revision: the revision to read (see :func:`consistent_read`). With ``streaming`` only the resolution of the
            files is checked: rows are read as they are iterated.

    Raises:
        DatasetChangedError: the folder changed while it was read, or is not at ``revision``.
    """
    path = _check_folder(path, config)
    with consistent_read(path, revision):
        return load_dataset(str(path), config, streaming=streaming, cache_dir=str(path / CACHE_DIR))


def load_cv_split(
    path: str | Path, test_fold: int, config: str = "pruned", *, revision: str | None = None
) -> DatasetDict:
    """The published split for test fold ``t``: test = t, validation = t-1 (mod 6), train = the rest.

    Returns:
        A DatasetDict with ``train``, ``validation`` and ``test``, of one revision (see :func:`load_facies`).
    """
    folds = load_facies(path, config, revision=revision)
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


def _in_range(indices: np.ndarray, n: int) -> np.ndarray:
    """Row indices in [-n, n) as rows in [0, n).

    Raises:
        IndexError: an index outside [-n, n).
    """
    if len(indices) and (indices.min() < -n or indices.max() >= n):
        raise IndexError(f"row indices must lie in [-{n}, {n}); got {indices.min()} ... {indices.max()}")
    return indices % max(n, 1)


class _PatchRows:
    """Patches of a split read by row index, touching only the Arrow record batches that hold the rows.

    ``pyarrow``'s ``take`` on a many-chunk column concatenates the whole column first (a copy of the column per
    read); here each row is mapped to its (record batch, offset) and its patch copied from a NumPy view of that
    record batch (of the memory-mapped file, for a view in table order), so a read costs in proportion to its rows.

    Args:
        rows: the rows to read from (see :meth:`TorchPatches._source`); their ``patch`` column of fixed-shape arrays
            is read.
        shape: the shape of every patch.
    """

    def __init__(self, rows: pa.Table, shape: tuple[int, ...]):
        self.shape = shape
        self.batches = [b for b in rows.select(["patch"]).to_batches() if b.num_rows]
        self._starts = np.cumsum([0, *(b.num_rows for b in self.batches)])
        self._views: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def groups(self, indices: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(record batch, offsets in it, positions in ``indices``) of every record batch holding rows at ``indices``.

        Raises:
            IndexError: an index outside [-len, len).
        """
        rows = _in_range(indices, len(self))
        which = np.searchsorted(self._starts, rows, side="right") - 1
        order = np.argsort(which, kind="stable")
        cuts = np.flatnonzero(np.diff(which[order])) + 1
        return [(int(which[p[0]]), rows[p] - self._starts[which[p[0]]], p) for p in np.split(order, cuts) if len(p)]

    def view(self, batch: int) -> np.ndarray:
        """The patches of record batch ``batch`` as a NumPy view (rows, *shape) of the mapped file (made once)."""
        if batch not in self._views:
            values = self.batches[batch].column("patch")
            if isinstance(values, pa.ExtensionArray):
                values = values.storage
            for _ in self.shape:
                values = values.flatten()
            rows = self.batches[batch].num_rows
            if len(values) != rows * int(np.prod(self.shape)):
                raise ValueError(f"the patch column holds arrays of other shapes than {self.shape}")
            self._views[batch] = values.to_numpy(zero_copy_only=False).reshape(rows, *self.shape)
        return self._views[batch]


class TorchPatches(torch.utils.data.Dataset):
    """A map-style PyTorch dataset over one split, with torchgeo-style samples.

    ``view[i]`` is one sample, a dict: ``image`` float32 (bands, H, W); ``label`` int64 () class code; ``fold``
    int64 (); ``x``, ``y`` float64 () patch centre in ``crs``; ``sample_id``, ``glacier``, ``date``, ``scene``,
    ``sensor``, ``crs`` str ("" where unknown). A plain ``DataLoader`` works with any batch size, sampler
    (``DistributedSampler`` too) and ``num_workers``: its default collate stacks samples into ``image``
    (B, bands, H, W), ``label`` (B,), ... and :meth:`__getitems__` reads each batch in one go.

    ``view[indices]`` (a sequence) is that collated batch read in one go, with no per-sample step: the fast path
    :func:`torch_loader` takes. Rows come straight from the memory-mapped Arrow table (no per-row decoding): the
    rows of a batch are gathered per record batch that holds them (one NumPy gather of patches, one Arrow ``take``
    of metadata), so a read touches those record batches only and costs in proportion to the batch.
    Pickling a view (``spawn`` workers) copies no rows: unpickling re-opens the split's Arrow cache files by path,
    and fails (``FileNotFoundError``) once a prune or rebuild replaced the folder, instead of reading other rows.

    Args:
        dataset: a split of a built dataset (any row selection: ``select``, ``shuffle``, ``filter`` ...).
        bands: bands to return, in the published order (default: all the dataset holds).
        dataset_bands: the bands the dataset's patches hold (default: the 11 published bands).
        transforms: applied to every sample (``dict -> dict``), as torchgeo datasets do; batches are then
            collated from the transformed samples.
    """

    def __init__(
        self,
        dataset: Dataset,
        bands: Sequence[str] | None = None,
        dataset_bands: Sequence[str] = BAND_NAMES,
        *,
        transforms: Callable[[Sample], Sample] | None = None,
    ):
        held = check_bands(dataset_bands)
        self.bands = held if bands is None else check_bands(bands)
        missing = [b for b in self.bands if b not in held]
        if missing:
            raise ValueError(f"bands {missing} are not in the dataset, which holds {list(held)}")
        self.transforms = transforms
        self._band_index = None if self.bands == held else np.array([held.index(b) for b in self.bands])
        shape = dataset.features["patch"].shape
        self._shape = (len(held), shape[1], shape[2])
        self._dataset = dataset.select_columns(["patch", *TEXT_METADATA, *TENSOR_METADATA])
        #: (N,) int64 class codes of every row.
        labels = dataset.select_columns(["label"]).with_format("arrow")[:].column("label")
        self.labels = torch.from_numpy(np.array(labels.to_numpy(), dtype=np.int64))
        # datasets slices a view in table order by its record batches, a select / shuffle / filter view row by row
        held_batches = [len(c) for c in dataset.data.table.column("label").chunks if len(c)]
        self._table_order = [len(c) for c in labels.chunks if len(c)] == held_batches

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict[str, Any]:
        """The view without its readers (views of the mapped files, rebuilt on first use): pickling copies no rows."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_rows", "_patch_rows", "_metadata_table")}

    @functools.cached_property
    def _rows(self) -> pa.Table:
        """The rows of a view in table order, sliced by their record batches from the memory-mapped files."""
        return self._dataset.with_format("arrow")[:]

    @functools.cached_property
    def _patch_rows(self) -> _PatchRows:
        return _PatchRows(self._rows, self._shape)

    @functools.cached_property
    def _metadata_table(self) -> pa.Table:
        """The metadata columns in one chunk (small next to the patches), so that a ``take`` copies only its rows."""
        return self._rows.select([*TEXT_METADATA, *TENSOR_METADATA]).combine_chunks()

    def _source(self, indices: np.ndarray, metadata: bool = True) -> tuple[_PatchRows, pa.Table, np.ndarray]:
        """Where the rows at ``indices`` are read from: their patches, their metadata (none unless ``metadata``, for
        a select / shuffle / filter view) and their positions in both.

        A view in table order is sliced by its record batches once, its metadata kept in one chunk. A ``select``,
        ``shuffle`` or ``filter`` view is sliced one row at a time by ``datasets``: per read, only the rows at
        ``indices``, copied into one record batch (so that no slice per row is held; ``flatten_indices()`` first to
        read it by record batches).
        """
        if self._table_order:
            return self._patch_rows, self._metadata_table, _in_range(indices, len(self))
        columns = ["patch", *TEXT_METADATA, *TENSOR_METADATA] if metadata else ["patch"]
        rows = self._dataset.select_columns(columns).with_format("arrow")[_in_range(indices, len(self)).tolist()]
        rows = rows.combine_chunks()
        return _PatchRows(rows, self._shape), rows.select(columns[1:]), np.arange(len(indices))

    def _patches(self, source: _PatchRows, positions: np.ndarray) -> np.ndarray:
        """The patches at ``positions`` of ``source`` as a new float32 array (N, bands, H, W)."""
        bands = np.arange(self._shape[0]) if self._band_index is None else self._band_index
        out = np.empty((len(positions), len(bands), *self._shape[1:]), np.float32)
        for b, offsets, where in source.groups(positions):
            out[where] = source.view(b)[offsets[:, None], bands]
        return out

    def patches(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Patches at ``indices`` as a new float32 array, shape (N, bands, H, W), gathered from the memory-mapped
        record batches that hold them (no other rows are read)."""
        source, _, positions = self._source(np.asarray(indices, dtype=np.int64), metadata=False)
        return self._patches(source, positions)

    def _batch(self, indices: Sequence[int] | np.ndarray) -> Sample:
        """The rows at ``indices`` as one collated batch, without transforms."""
        indices = np.asarray(indices, dtype=np.int64)
        source, metadata, positions = self._source(indices)
        batch: Sample = {"image": torch.from_numpy(self._patches(source, positions)), "label": self.labels[indices]}
        metadata = metadata.take(pa.array(positions, type=pa.int64()))
        for name, dtype in TENSOR_METADATA.items():
            batch[name] = torch.tensor(metadata.column(name).to_numpy(), dtype=dtype)
        for name in TEXT_METADATA:
            batch[name] = [value or "" for value in metadata.column(name).to_pylist()]
        return batch

    def __getitems__(self, indices: Sequence[int]) -> list[Sample]:
        """The samples at ``indices``, read in one go (what a ``DataLoader`` calls per batch)."""
        batch = self._batch(indices)
        samples = [{name: value[i] for name, value in batch.items()} for i in range(len(indices))]
        return [self.transforms(s) for s in samples] if self.transforms else samples

    def __getitem__(self, index: int | Sequence[int] | np.ndarray) -> Sample:
        """The sample at ``index``, or the collated batch of the samples at a sequence of indices."""
        if isinstance(index, (int, np.integer)):
            return self.__getitems__([int(index)])[0]
        return default_collate(self.__getitems__(index)) if self.transforms else self._batch(index)

    def plot(self, sample: Sample, *, suptitle: str | None = None) -> Figure:
        """A figure of one sample: its true-colour composite (when the view holds blue, green and red) and every
        other band, the class in the title (and the predicted class, given a ``prediction`` key).

        Args:
            sample: a sample of this view (``image`` (bands, H, W), ``label``, metadata).
            suptitle: the figure's title (default: sample id, glacier and date).
        """
        image = torch.as_tensor(sample["image"]).detach().cpu().numpy()
        composite = [self.bands.index(b) for b in TRUE_COLOUR if b in self.bands]
        panels = [("true colour", true_colour(image[composite]), None)] if len(composite) == 3 else []
        panels += [
            (b, image[i], "viridis") for i, b in enumerate(self.bands) if len(composite) < 3 or i not in composite
        ]
        cols = min(len(panels), PLOT_COLUMNS)
        rows = -(-len(panels) // cols)
        fig = Figure(figsize=(2.2 * cols, 2.3 * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes:
            ax.set_axis_off()
        for ax, (name, data, cmap) in zip(axes, panels):
            ax.imshow(data, cmap=cmap, interpolation="nearest")
            ax.plot(data.shape[1] // 2, data.shape[0] // 2, "+", color="red", ms=8)
            ax.set_title(name, fontsize=9)
        title = f"label: {CLASS_NAMES[int(sample['label'])]}"
        if "prediction" in sample:
            title += f", predicted: {CLASS_NAMES[int(sample['prediction'])]}"
        details = " ".join(str(sample.get(k, "")) for k in ("sample_id", "glacier", "date")).strip()
        fig.suptitle(f"{suptitle or details}\n{title}", fontsize=10)
        return fig


def torch_loader(
    patches: TorchPatches,
    *,
    batch_size: int = 512,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of collated batches (see :class:`TorchPatches`), each read as ``patches[indices]``: one read
    per batch, no per-sample step (unless the view has ``transforms``).

    Args:
        shuffle, seed: a new seeded order every epoch (the same sequence of orders for the same seed).
        num_workers: worker processes reading batches (0: in this process).
        pin_memory: batches in page-locked memory, for fast copies to a GPU.
    """
    order = (
        RandomSampler(patches, generator=torch.Generator().manual_seed(seed)) if shuffle else SequentialSampler(patches)
    )
    return DataLoader(
        patches,
        sampler=BatchSampler(order, batch_size=batch_size, drop_last=drop_last),
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


__all__ = [
    "CONFIGS",
    "SPLIT_NAMES",
    "TorchPatches",
    "consistent_read",
    "dataset_bands",
    "load_cv_split",
    "load_facies",
    "torch_loader",
]
