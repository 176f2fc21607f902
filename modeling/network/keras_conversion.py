"""Convert the authors' Keras HDF5 weight files (``model.save_weights``) to FaciesCNN, with h5py only.

A Keras weight file lists its layers in creation order (root attribute ``layer_names``); each layer group
lists its tensors (attribute ``weight_names``), stored at ``{layer}/{weight_name}``. The published model
has 6 conv2d, 6 batch_normalization and 3 dense layers with weights; they map, in order, onto the
FaciesCNN's conv, BatchNorm and linear layers:

- conv kernel (kh, kw, in, out) -> weight (out, in, kh, kw); bias as is;
- BN gamma, beta, moving_mean, moving_variance -> weight, bias, running_mean, running_var;
- dense kernel (in, out) -> weight (out, in); bias as is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import torch
from torch import nn

from dataset_builder.files import sha256_file
from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS, cv_split
from dataset_builder.statistics import DatasetStatistics
from hub_cards.common import DATASET_DOI
from modeling.errors import WeightsError
from modeling.network.config import FaciesCNNConfig
from modeling.network.facies_cnn import FaciesCNN

#: File names of the published weights: ``{fold}_cnn_{before,after}confidentlearning_weights.h5``.
PUBLISHED_NAME = re.compile(r"^(?P<fold>\d+)_cnn_(?P<stage>before|after)confidentlearning_weights\.h5$")
#: Default band selection per input channel count of a weight file.
DEFAULT_BANDS: dict[int, tuple[str, ...]] = {len(BAND_NAMES): BAND_NAMES, len(OPTICAL_BANDS): OPTICAL_BANDS}
#: The authors' training recipe (published), recorded in converted models' config and card.
PUBLISHED_RECIPE: dict[str, Any] = {
    "framework": "Keras (TensorFlow)",
    "epochs": 1000,
    "batch_size": 512,
    "optimizer": "Adam, cosine decay from 1e-3",
    "loss": "focal loss (gamma 2) with label smoothing 0.1",
    "sample_weight": "(N / N_class) * (N / N_scene), scene = (glacier, date)",
    "augmentation": "random flips, rot90, contrast x[0.95, 1.05], brightness +-0.01",
    "model_selection": "epoch with the best validation mean IoU",
}
_KERAS_TENSORS = {
    "conv2d": ("kernel", "bias"),
    "batch_normalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_layers(path: str | Path) -> tuple[list[tuple[str, str, dict[str, np.ndarray]]], dict[str, str]]:
    """The weighted layers of a Keras ``save_weights`` HDF5 file, in creation order.

    Returns:
        ``[(layer_name, layer_type, {tensor_kind: array})]`` (``layer_type`` = the name without its
        ``_N`` suffix, ``tensor_kind`` e.g. ``kernel``) and the file's ``keras_version`` / ``backend``.

    Raises:
        WeightsError: for a file that is not such a weight file, or holds layers of unknown types.
    """
    path = Path(path)
    layers = []
    with h5py.File(path, "r") as h5:
        if "layer_names" not in h5.attrs:
            raise WeightsError(f"{path}: not a Keras save_weights HDF5 file (no 'layer_names' attribute)")
        meta = {k: _text(h5.attrs[k]) for k in ("keras_version", "backend") if k in h5.attrs}
        for layer in map(_text, h5.attrs["layer_names"]):
            names = [_text(n) for n in h5[layer].attrs.get("weight_names", [])]
            if not names:
                continue
            kind = re.sub(r"_\d+$", "", layer)
            tensors = {n.split("/")[-1].split(":")[0]: np.asarray(h5[layer][n]) for n in names}
            if kind not in _KERAS_TENSORS or sorted(tensors) != sorted(_KERAS_TENSORS[kind]):
                raise WeightsError(
                    f"{path}: layer {layer!r} with tensors {sorted(tensors)} is not part of the published architecture"
                )
            layers.append((layer, kind, tensors))
    return layers, meta


def keras_state_dict(
    layers: Sequence[tuple[str, str, dict[str, np.ndarray]]], model: FaciesCNN, source: str
) -> dict[str, torch.Tensor]:
    """Map Keras layers (from :func:`read_keras_layers`) onto ``model``'s state-dict names, in order."""
    targets = {
        kind: [name for name, m in model.named_modules() if isinstance(m, module_type)]
        for kind, module_type in (("conv2d", nn.Conv2d), ("batch_normalization", nn.BatchNorm2d), ("dense", nn.Linear))
    }
    for kind, names in targets.items():
        found = [layer for layer, k, _ in layers if k == kind]
        if len(found) != len(names):
            raise WeightsError(f"{source}: {len(found)} {kind} layers {found}, the model has {len(names)}")
    queues = {kind: iter(names) for kind, names in targets.items()}
    state: dict[str, np.ndarray] = {}
    for _, kind, t in layers:
        prefix = next(queues[kind])
        if kind == "conv2d":
            state[f"{prefix}.weight"] = t["kernel"].transpose(3, 2, 0, 1)
            state[f"{prefix}.bias"] = t["bias"]
        elif kind == "dense":
            state[f"{prefix}.weight"] = t["kernel"].T
            state[f"{prefix}.bias"] = t["bias"]
        else:
            state[f"{prefix}.weight"] = t["gamma"]
            state[f"{prefix}.bias"] = t["beta"]
            state[f"{prefix}.running_mean"] = t["moving_mean"]
            state[f"{prefix}.running_var"] = t["moving_variance"]
            state[f"{prefix}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    return {k: torch.tensor(v) for k, v in state.items()}


def _published_training(fold: int, stage: str) -> dict[str, Any]:
    split = cv_split(fold)
    return {
        "dataset": f"pan-European glacier facies benchmark (doi:{DATASET_DOI})",
        "labels": "confident-learning pruned labels" if stage == "after" else "all expert labels (before pruning)",
        "test_fold": split.test,
        "validation_fold": split.validation,
        "train_folds": list(split.train),
        **PUBLISHED_RECIPE,
    }


def load_keras_weights(
    path: str | Path,
    *,
    bands: Sequence[str] | None = None,
    statistics: DatasetStatistics | None = None,
    per_glacier_elevation_scaling: bool = False,
) -> FaciesCNN:
    """A FaciesCNN (eval mode) holding the weights of a Keras HDF5 file, with provenance in its config.

    Args:
        path: the ``.h5`` weight file.
        bands: input band names; default: all 11 bands for 11 input channels, the 6 optical ones for 6.
            Must have as many bands as the file has input channels.
        statistics: a built dataset's statistics, to fill the config's normalisation (else None).
        per_glacier_elevation_scaling: record that elevation must be scaled per glacier first.

    Raises:
        WeightsError: naming the file, for a band count that does not fit or tensors that do not map.
    """
    path = Path(path)
    layers, meta = read_keras_layers(path)
    first_kernel = next((t["kernel"] for _, kind, t in layers if kind == "conv2d"), None)
    if first_kernel is None:
        raise WeightsError(f"{path}: no conv2d layer")
    channels = int(first_kernel.shape[2])
    if bands is None:
        if channels not in DEFAULT_BANDS:
            raise WeightsError(f"{path}: {channels} input channels; name them with bands=[...] (--bands)")
        bands = DEFAULT_BANDS[channels]
    elif len(bands) != channels:
        raise WeightsError(f"{path} has {channels} input channels, but {len(bands)} bands were given: {list(bands)}")
    match = PUBLISHED_NAME.match(path.name)
    fold, stage = (int(match["fold"]), match["stage"]) if match else (None, None)
    config = FaciesCNNConfig(
        bands=tuple(bands),
        per_glacier_elevation_scaling=per_glacier_elevation_scaling,
        provenance={
            "format": "keras-hdf5",
            "source_file": path.name,
            "sha256": sha256_file(path),
            "fold": fold,
            "confident_learning": stage,
            **meta,
        },
        training=_published_training(fold, stage) if match else None,
    )
    if statistics is not None:
        config = config.with_statistics(statistics)
    model = FaciesCNN(config)
    model.load_weights(keras_state_dict(layers, model, str(path)), source=str(path))
    return model.eval()


def convert_keras_weights(path: str | Path, out_dir: str | Path, **kwargs: Any) -> FaciesCNN:
    """Convert one Keras weight file into a ``from_pretrained`` folder (weights, config, card).

    ``kwargs`` go to :func:`load_keras_weights`.
    """
    model = load_keras_weights(path, **kwargs)
    model.save_pretrained(out_dir)
    return model


def convert_folder(folder: str | Path, out_root: str | Path, **kwargs: Any) -> list[Path]:
    """Convert every ``*.h5`` under ``folder`` (recursively) to ``out_root/<relative folder>/<file stem>``.

    Returns:
        The output folders, in sorted order of the source files.
    """
    folder, out_root = Path(folder), Path(out_root)
    sources = sorted(folder.rglob("*.h5"))
    if not sources:
        raise FileNotFoundError(f"{folder}: no .h5 weight files")
    outputs = []
    for source in sources:
        rel = source.relative_to(folder)
        out = out_root / rel.parent / rel.stem
        convert_keras_weights(source, out, **kwargs)
        outputs.append(out)
    return outputs
