"""Reading the authors' Keras HDF5 weight files (``model.save_weights``) with h5py only, and mapping them onto a
FaciesCNN's tensors (:meth:`modeling.network.FaciesCNN.from_keras` builds the model).

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

from modeling.errors import WeightsError
from modeling.network.config import MAX_PARAMETERS

#: One weighted layer of a Keras file: (layer name, layer type, {tensor kind: array}).
KerasLayer = tuple[str, str, dict[str, np.ndarray]]
#: Tensors of each Keras layer type of the published architecture, with their number of dimensions.
KERAS_TENSORS = {
    "conv2d": {"kernel": 4, "bias": 1},
    "batch_normalization": {"gamma": 1, "beta": 1, "moving_mean": 1, "moving_variance": 1},
    "dense": {"kernel": 2, "bias": 1},
}
#: The module type each Keras layer type maps onto.
MODULE_TYPES: dict[str, type[nn.Module]] = {
    "conv2d": nn.Conv2d,
    "batch_normalization": nn.BatchNorm2d,
    "dense": nn.Linear,
}
#: More layers than any FaciesCNN within the config limits has: a bound on what a file may list.
MAX_KERAS_LAYERS = 512


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_layers(path: str | Path) -> tuple[list[KerasLayer], dict[str, str]]:
    """The weighted layers of a Keras ``save_weights`` HDF5 file, in creation order.

    Returns:
        ``[(layer_name, layer_type, {tensor_kind: array})]`` (``layer_type`` = the name without its
        ``_N`` suffix, ``tensor_kind`` e.g. ``kernel``) and the file's ``keras_version`` / ``backend``.

    Raises:
        WeightsError: naming the file, for a file that is not HDF5, not such a weight file, or holds layers
            of other types or missing tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such weight file", str(path))
    try:
        with h5py.File(path, "r") as h5:
            return _read_layers(h5, path)
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:  # h5py's errors for files that are not HDF5 or broken
        raise WeightsError(f"{path}: not a readable Keras HDF5 weight file ({err})") from err


def _read_layers(h5: h5py.File, path: Path) -> tuple[list[KerasLayer], dict[str, str]]:
    if "layer_names" not in h5.attrs:
        raise WeightsError(f"{path}: not a Keras save_weights HDF5 file (no 'layer_names' attribute)")
    meta = {k: _text(h5.attrs[k]) for k in ("keras_version", "backend") if k in h5.attrs}
    names = [_text(n) for n in h5.attrs["layer_names"]]
    if len(names) > MAX_KERAS_LAYERS:
        raise WeightsError(f"{path}: lists {len(names)} layers; the FaciesCNN architecture has far fewer")
    layers = []
    for layer in names:
        weight_names = [_text(n) for n in h5[layer].attrs.get("weight_names", [])]
        if not weight_names:
            continue
        kind = re.sub(r"_\d+$", "", layer)
        datasets = {n.split("/")[-1].split(":")[0]: h5[layer][n] for n in weight_names}
        expected = KERAS_TENSORS.get(kind, {})
        if sorted(datasets) != sorted(expected):
            raise WeightsError(
                f"{path}: layer {layer!r} with tensors {sorted(datasets)} is not part of the published architecture"
            )
        for name, data in datasets.items():
            if data.ndim != expected[name] or data.size > MAX_PARAMETERS or data.dtype.kind != "f":
                raise WeightsError(
                    f"{path}: {layer}/{name} is a {data.dtype} array of shape {data.shape}; "
                    f"expected a float array of {expected[name]} dimension(s)"
                )
        layers.append((layer, kind, {name: np.asarray(data) for name, data in datasets.items()}))
    return layers, meta


def keras_input_channels(layers: Sequence[KerasLayer], source: str) -> int:
    """Input channels of the first convolution (its kernel is (kh, kw, in, out))."""
    kernel = next((t["kernel"] for _, kind, t in layers if kind == "conv2d"), None)
    if kernel is None:
        raise WeightsError(f"{source}: no conv2d layer")
    return int(kernel.shape[2])


def keras_state_dict(layers: Sequence[KerasLayer], model: nn.Module, source: str) -> dict[str, torch.Tensor]:
    """Map Keras layers (from :func:`read_keras_layers`) onto ``model``'s state-dict names, in order.

    Raises:
        WeightsError: naming ``source`` when the file has another number of layers of a type than the model.
    """
    targets = {
        kind: [name for name, m in model.named_modules() if isinstance(m, module_type)]
        for kind, module_type in MODULE_TYPES.items()
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
