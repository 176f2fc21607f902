"""FaciesCNN: the published two-scale patch classifier, in PyTorch, loadable from the Hugging Face hub.

Architecture (Keras original, channels first here): scale 1 = ``depths[0]`` x [conv 3x3 "same" -> BN -> ELU];
the centre pixel's features are kept; max-pool ``pool_size`` (stride = size, "valid"); scale 2 = ``depths[1]``
x [conv 3x3 -> BN -> ELU]; its centre pixel and global max are kept; the concatenation goes through dropout
and ``dense_units`` x [dense -> ELU -> dropout] to one logit per class.

Annotations in this module are evaluated (no ``from __future__ import annotations``): the hub mixin reads
``__init__``'s annotation of ``config`` and must see a union, so that it hands ``config.json`` over as a
plain dict and ``FaciesCNNConfig.from_dict`` (strict) parses it.
"""

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard, PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import RemoteEntryNotFoundError
from safetensors.torch import load_file, save_file
from torch import nn

from dataset_builder.atomic import atomic_path, atomic_write_text
from dataset_builder.statistics import DatasetStatistics
from hub_cards import model_card
from modeling.errors import WeightsError
from modeling.network import inference
from modeling.network.config import FaciesCNNConfig

#: Keras BatchNormalization defaults (epsilon 1e-3, momentum 0.99 = PyTorch momentum 0.01).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
WEIGHTS_FILE = constants.SAFETENSORS_SINGLE_FILE  # "model.safetensors"
CONFIG_FILE = constants.CONFIG_NAME  # "config.json"
CARD_FILE = "README.md"
#: Weight files of other formats that are never loaded (they are pickles).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class ConvBNELU(nn.Sequential):
    """conv 3x3 (stride 1, "same" padding) -> BatchNorm (Keras defaults) -> ELU(alpha=1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                bn=nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
                act=nn.ELU(alpha=1.0),
            )
        )


def centre(feature_map: torch.Tensor) -> torch.Tensor:
    """Features of the centre pixel (index H//2, W//2) of a (N, C, H, W) map -> (N, C)."""
    return feature_map[:, :, feature_map.shape[2] // 2, feature_map.shape[3] // 2]


def render_model_card(
    config: FaciesCNNConfig, *, eval_results: Sequence[Any] | None = None, training: Mapping | None = None
) -> str:
    """The Markdown model card of a FaciesCNN with this config: :func:`hub_cards.model_card.render_model_card`
    of ``config.to_dict()``."""
    return model_card.render_model_card(config.to_dict(), eval_results=eval_results, training=training)


class FaciesCNN(nn.Module, PyTorchModelHubMixin):
    """The published glacier facies CNN; input (N, bands, H, W) normalised patches, output (N, classes) logits.

    ``softmax(forward(x))`` equals the Keras model's output. Use :meth:`predict_proba` / :meth:`predict`
    for raw band values (they apply the config's normalisation and calibration).
    """

    def __init__(self, config: FaciesCNNConfig | dict) -> None:
        super().__init__()
        self.config = config if isinstance(config, FaciesCNNConfig) else FaciesCNNConfig.from_dict(config)
        cfg = self.config
        f1, f2 = cfg.filters
        self.stage1 = nn.Sequential(*(ConvBNELU(cfg.num_bands if i == 0 else f1, f1) for i in range(cfg.depths[0])))
        self.pool = nn.MaxPool2d(cfg.pool_size, stride=cfg.pool_size)
        self.stage2 = nn.Sequential(*(ConvBNELU(f1 if i == 0 else f2, f2) for i in range(cfg.depths[1])))
        widths = (f1 + 2 * f2, *cfg.dense_units)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], cfg.num_classes)
        self.dropout = nn.Dropout(cfg.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras initialisation: Glorot-uniform kernels, zero biases, BN at identity."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()

    def parameter_count(self) -> int:
        """Parameters as Keras counts them (and the paper reports them): trainable ones plus the BatchNorm
        moving means and variances; 200,072 for the published 11-band model."""
        moving = sum(b.numel() for name, b in self.named_buffers() if name.endswith(("running_mean", "running_var")))
        return sum(p.numel() for p in self.parameters()) + moving

    # -- the network, in pieces that dense (whole-scene) inference can reuse --------------------------

    def scale1(self, x: torch.Tensor) -> torch.Tensor:
        """Scale-1 feature map: (N, bands, H, W) normalised input -> (N, filters[0], H, W)."""
        if x.ndim != 4 or x.shape[1] != self.config.num_bands:
            raise ValueError(
                f"expected input (N, {self.config.num_bands}, H, W) for bands {list(self.config.bands)}, got {tuple(x.shape)}"
            )
        return self.stage1(x)

    def scale2(self, scale1_map: torch.Tensor) -> torch.Tensor:
        """Scale-2 feature map: max-pool of the scale-1 map, then the scale-2 convolutions.

        (N, filters[0], H, W) -> (N, filters[1], H // pool_size, W // pool_size).
        """
        if min(scale1_map.shape[2:]) < self.config.pool_size:
            raise ValueError(
                f"patches must be at least {self.config.pool_size} pixels wide, got {tuple(scale1_map.shape[2:])}"
            )
        return self.stage2(self.pool(scale1_map))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, bands, H, W) normalised input -> (N, filters[0] + 2 * filters[1]) head input:
        [scale-1 centre pixel, scale-2 centre pixel, scale-2 global max]."""
        map1 = self.scale1(x)
        map2 = self.scale2(map1)
        return torch.cat([centre(map1), centre(map2), map2.amax(dim=(2, 3))], dim=1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """(N, filters[0] + 2 * filters[1]) features -> (N, classes) logits."""
        h = self.dropout(features)
        for layer in self.hidden:
            h = self.dropout(F.elu(layer(h)))
        return self.output(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, bands, H, W) normalised input, any H, W >= pool_size -> (N, classes) logits."""
        return self.head(self.features(x))

    # -- prediction on raw band values ----------------------------------------------------------------

    def predict_proba(
        self,
        patches: np.ndarray | torch.Tensor,
        *,
        batch_size: int = 256,
        elevation_range: Sequence[float] | np.ndarray | None = None,
        compile: bool = False,
    ) -> np.ndarray:
        """Class probabilities (N, classes) for raw patches (N, bands, H, W); see :func:`modeling.network.inference.predict_proba`."""
        return inference.predict_proba(
            self, patches, batch_size=batch_size, elevation_range=elevation_range, compile=compile
        )

    def predict(
        self,
        patches: np.ndarray | torch.Tensor,
        *,
        batch_size: int = 256,
        elevation_range: Sequence[float] | np.ndarray | None = None,
        compile: bool = False,
    ) -> np.ndarray:
        """Label codes (N,) for raw patches (N, bands, H, W); see :func:`modeling.network.inference.predict`."""
        return inference.predict(self, patches, batch_size=batch_size, elevation_range=elevation_range, compile=compile)

    # -- weights ----------------------------------------------------------------------------------------

    def load_weights(self, state_dict: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
        """Strictly load ``state_dict``: every tensor present, none extra, every shape equal.

        Raises:
            WeightsError: naming ``source`` and the missing, unexpected and mismatched tensors.
        """
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        mismatched = [
            f"{k}: {tuple(state_dict[k].shape)} in the weights, {tuple(expected[k].shape)} in the model"
            for k in sorted(set(expected) & set(state_dict))
            if tuple(state_dict[k].shape) != tuple(expected[k].shape)
        ]
        problems = [
            f"{label}: {items}"
            for label, items in (
                ("missing tensor(s)", missing),
                ("unexpected tensor(s)", unexpected),
                ("shape mismatch(es)", mismatched),
            )
            if items
        ]
        if problems:
            raise WeightsError(f"{source} does not fit FaciesCNN({list(self.config.bands)}): " + "; ".join(problems))
        self.load_state_dict(state_dict, strict=True)

    def with_statistics(self, statistics: DatasetStatistics) -> "FaciesCNN":
        """A copy with the same weights whose config normalises with a built dataset's per-band min/max."""
        model = type(self)(self.config.with_statistics(statistics))
        model.load_weights(self.state_dict(), source="the original model")
        return model.to(next(self.parameters()).device).train(self.training)

    # -- hub integration ------------------------------------------------------------------------------

    def generate_model_card(
        self, *, eval_results: Sequence[Any] | None = None, training: Mapping | None = None
    ) -> ModelCard:
        """The model card (``README.md``); see :func:`render_model_card`."""
        return ModelCard(render_model_card(self.config, eval_results=eval_results, training=training))

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``model.safetensors`` and ``config.json``, each atomically."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(Path(save_directory) / WEIGHTS_FILE) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        atomic_write_text(Path(save_directory) / CONFIG_FILE, json.dumps(self.config.to_dict(), indent=2) + "\n")

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: Any = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs: Any,
    ) -> str | None:
        """Write ``model.safetensors``, ``config.json`` and the card ``README.md`` to ``save_directory``.

        Every file is written atomically and replaces an older one. ``model_card_kwargs`` go to
        :meth:`generate_model_card` (``eval_results``, ``training``). With ``push_to_hub=True`` the
        folder is also uploaded to ``repo_id`` (default: the folder name).
        """
        if config is not None:
            raise ValueError("FaciesCNN saves its own config (model.config); build a new model to change it")
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(directory)
        card = self.generate_model_card(**(model_card_kwargs or {}))
        atomic_write_text(directory / CARD_FILE, str(card))
        if push_to_hub:
            return self.push_to_hub(
                repo_id or directory.name, model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs
            )
        return None

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict | None = None,
        map_location: str = "cpu",
    ) -> "FaciesCNN":
        """Build the model from ``config.json`` and strictly load ``model.safetensors`` (never a pickle)."""
        if config is None:
            raise FileNotFoundError(
                f"{model_id}: no {CONFIG_FILE}; a FaciesCNN folder holds {CONFIG_FILE} and {WEIGHTS_FILE}"
            )
        model = cls(config)
        if os.path.isdir(model_id):
            weights = Path(model_id) / WEIGHTS_FILE
            if not weights.is_file():
                pickles = sorted(p.name for p in Path(model_id).iterdir() if p.suffix in PICKLE_SUFFIXES)
                found = f"; it holds {pickles}, which are pickles and never loaded" if pickles else ""
                raise WeightsError(f"{model_id}: no {WEIGHTS_FILE}{found}. FaciesCNN loads safetensors weights only")
        else:
            try:
                weights = Path(
                    hf_hub_download(
                        repo_id=model_id,
                        filename=WEIGHTS_FILE,
                        revision=revision,
                        cache_dir=cache_dir,
                        force_download=force_download,
                        token=token,
                        local_files_only=local_files_only,
                    )
                )
            except RemoteEntryNotFoundError as err:
                raise WeightsError(f"{model_id}: no {WEIGHTS_FILE}; FaciesCNN loads safetensors weights only") from err
        model.load_weights(load_file(str(weights)), source=str(weights))
        return model.to(map_location).eval()
