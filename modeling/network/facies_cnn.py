"""FaciesCNN: the published two-scale patch classifier, in PyTorch, loadable from the Hugging Face hub.

Architecture (Keras original, channels first here): scale 1 = ``depths[0]`` x [conv 3x3 "same" -> BN -> ELU];
the centre pixel's features are kept; max-pool ``pool_size`` (stride = size, "valid"); scale 2 = ``depths[1]``
x [conv 3x3 -> BN -> ELU]; its centre pixel and global max are kept; the concatenation goes through dropout
and ``dense_units`` x [dense -> ELU -> dropout] to one logit per class.

Hub integration is the mixin's, as its documentation describes: the class keyword arguments give the card's
metadata and links; ``__init__`` takes the config dataclass, which the mixin keeps and writes as ``config.json``;
``_save_pretrained`` / ``_from_pretrained`` write and read ``model.safetensors``. (No ``coders`` entry: the mixin
encodes and decodes dataclasses itself, before it looks at coders.) Three methods add what configs and weights
from anywhere need: ``from_pretrained`` reads ``config.json`` strictly before the mixin does (the mixin would
drop unknown fields and raise raw JSON errors), ``_from_pretrained`` checks the safetensors header's tensor names,
shapes and dtypes against the config before anything is built, and ``save_pretrained`` rewrites the card and the
evaluation-results file every time (the mixin keeps an existing ``README.md``). Pickles are never read.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import EvalResult, ModelCard, PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import HFValidationError, RemoteEntryNotFoundError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from dataset_builder.atomic import atomic_path, atomic_write_text
from dataset_builder.files import sha256_file
from dataset_builder.statistics import DatasetStatistics
from hub_cards import model_card
from hub_cards.common import CODE_LICENSE, DATASET_REPO_ID, PAPER_URL, UPSTREAM_CODE
from modeling.errors import WeightsError
from modeling.network import inference
from modeling.network.config import FaciesCNNConfig, read_config
from modeling.network.keras_conversion import keras_input_channels, keras_state_dict, read_keras_layers
from modeling.network.published import (
    DEFAULT_BANDS,
    PUBLISHED_FILE_NAME,
    identify,
    published_training,
    published_weights,
)

#: Keras BatchNormalization defaults (epsilon 1e-3, momentum 0.99 = PyTorch momentum 0.01).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
WEIGHTS_FILE = constants.SAFETENSORS_SINGLE_FILE  # "model.safetensors"
CONFIG_FILE = constants.CONFIG_NAME  # "config.json"
CARD_FILE = "README.md"
#: safetensors dtype names of floating-point tensors.
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
#: Weight files of other formats that are never loaded (they are pickles).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class TensorSpec(NamedTuple):
    """What the strict loading compares of each tensor: its shape and whether it holds floats."""

    shape: tuple[int, ...]
    floating: bool


def tensor_specs_of(state: Mapping[str, torch.Tensor]) -> dict[str, TensorSpec]:
    """The :class:`TensorSpec` of every tensor of a state dict."""
    return {k: TensorSpec(tuple(v.shape), v.is_floating_point()) for k, v in state.items()}


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


def weight_problems(expected: Mapping[str, TensorSpec], found: Mapping[str, TensorSpec]) -> list[str]:
    """What keeps ``found`` tensors from loading strictly into a model with ``expected`` ones (empty: nothing)."""
    common = sorted(set(expected) & set(found))
    mismatched = [
        f"{k}: {found[k].shape} in the weights, {expected[k].shape} in the model"
        for k in common
        if found[k].shape != expected[k].shape
    ]
    mistyped = [
        f"{k}: {'float' if found[k].floating else 'integer'} in the weights, "
        f"{'float' if expected[k].floating else 'integer'} in the model"
        for k in common
        if found[k].floating != expected[k].floating
    ]
    return [
        f"{label}: {items}"
        for label, items in (
            ("missing tensor(s)", sorted(set(expected) - set(found))),
            ("unexpected tensor(s)", sorted(set(found) - set(expected))),
            ("shape mismatch(es)", mismatched),
            ("dtype mismatch(es)", mistyped),
        )
        if items
    ]


def _model_file(model_id: str, filename: str, **hub: Any) -> Path | None:
    """``filename`` of a model folder, or of a hub repo (downloaded to the cache); None when it has none.

    Raises:
        FileNotFoundError: for a ``model_id`` that is neither a folder nor a hub repository id.
    """
    if os.path.isdir(model_id):
        path = Path(model_id) / filename
        return path if path.is_file() else None
    try:
        return Path(hf_hub_download(repo_id=model_id, filename=filename, **hub))
    except RemoteEntryNotFoundError:
        return None
    except HFValidationError:
        raise FileNotFoundError(2, "no such model folder, and no hub repository id", model_id) from None


class FaciesCNN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name=model_card.LIBRARY_NAME,
    license=CODE_LICENSE,
    pipeline_tag=model_card.PIPELINE_TAG,
    tags=list(model_card.TAGS),
    repo_url=UPSTREAM_CODE,
    paper_url=PAPER_URL,
    docs_url=f"https://huggingface.co/datasets/{DATASET_REPO_ID}",
):
    """The published glacier facies CNN; input (N, bands, H, W) normalised patches, output (N, classes) logits.

    ``softmax(forward(x))`` equals the Keras model's output. Use :meth:`predict_proba` / :meth:`predict`
    for raw band values (they apply the config's normalisation and calibration).
    """

    def __init__(self, config: FaciesCNNConfig) -> None:
        super().__init__()
        if not isinstance(config, FaciesCNNConfig):
            raise TypeError(
                f"FaciesCNN takes a FaciesCNNConfig (FaciesCNNConfig.from_dict(...)), not {type(config).__name__}"
            )
        self.config = config
        f1, f2 = config.filters
        self.stage1 = nn.Sequential(
            *(ConvBNELU(config.num_bands if i == 0 else f1, f1) for i in range(config.depths[0]))
        )
        self.pool = nn.MaxPool2d(config.pool_size, stride=config.pool_size)
        self.stage2 = nn.Sequential(*(ConvBNELU(f1 if i == 0 else f2, f2) for i in range(config.depths[1])))
        widths = (f1 + 2 * f2, *config.dense_units)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], config.num_classes)
        self.dropout = nn.Dropout(config.dropout)
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

    @classmethod
    def tensor_specs(cls, config: FaciesCNNConfig) -> dict[str, TensorSpec]:
        """Name, shape and kind of every tensor of the model ``config`` builds, without allocating it."""
        with torch.device("meta"):
            skeleton = cls(config)
        return tensor_specs_of(skeleton.state_dict())

    def load_weights(self, state_dict: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
        """Strictly load ``state_dict``: every tensor present, none extra, every shape and kind equal.

        Raises:
            WeightsError: naming ``source`` and the missing, unexpected and mismatched tensors.
        """
        problems = weight_problems(tensor_specs_of(self.state_dict()), tensor_specs_of(state_dict))
        if problems:
            raise WeightsError(f"{source} does not fit FaciesCNN({list(self.config.bands)}): " + "; ".join(problems))
        self.load_state_dict(state_dict, strict=True)

    def with_statistics(self, statistics: DatasetStatistics) -> FaciesCNN:
        """A copy with the same weights whose config normalises with a built dataset's per-band min/max."""
        model = type(self)(self.config.with_statistics(statistics))
        model.load_weights(self.state_dict(), source="the original model")
        return model.to(next(self.parameters()).device).train(self.training)

    # -- the authors' Keras weights ---------------------------------------------------------------------

    @classmethod
    def from_keras(
        cls,
        path: str | Path,
        *,
        bands: Sequence[str] | None = None,
        statistics: DatasetStatistics | None = None,
        per_glacier_elevation_scaling: bool = False,
    ) -> FaciesCNN:
        """A FaciesCNN (eval mode) holding the weights of a Keras HDF5 file (h5py only, no TensorFlow).

        The config records the file's name, sha256, fold and pruning stage (from the name) and, for one of the
        18 published files (recognised by its sha256), its registry entry and the authors' training record.

        Args:
            path: the ``.h5`` weight file.
            bands: input band names; default: those of the published file, else all 11 bands for 11 input
                channels and the 6 optical ones for 6. Must have as many bands as the file has input channels.
            statistics: a built dataset's statistics, to fill the config's normalisation (else None).
            per_glacier_elevation_scaling: record that elevation must be scaled per glacier first.

        Raises:
            WeightsError: naming the file, for a file that is no Keras weight file, a band count that does not
                fit, or tensors that do not map.
        """
        path = Path(path)
        layers, meta = read_keras_layers(path)
        channels = keras_input_channels(layers, str(path))
        digest = sha256_file(path)
        published = identify(digest)
        if bands is None:
            bands = published.bands if published else DEFAULT_BANDS.get(channels)
            if bands is None:
                raise WeightsError(f"{path}: {channels} input channels; name them with bands=[...] (--bands)")
        elif len(bands) != channels:
            raise WeightsError(
                f"{path} has {channels} input channels, but {len(bands)} bands were given: {list(bands)}"
            )
        match = PUBLISHED_FILE_NAME.match(path.name)
        fold, stage = (int(match["fold"]), match["stage"]) if match else (None, None)
        provenance = {
            "format": "keras-hdf5",
            "source_file": path.name,
            "sha256": digest,
            "fold": fold,
            "confident_learning": stage,
            **meta,
            **(published.provenance() if published else {}),
        }
        config = FaciesCNNConfig(
            bands=tuple(bands),
            per_glacier_elevation_scaling=per_glacier_elevation_scaling,
            provenance=provenance,
            training=published.training if published else published_training(fold, stage) if match else None,
        )
        if statistics is not None:
            config = config.with_statistics(statistics)
        model = cls(config)
        model.load_weights(keras_state_dict(layers, model, str(path)), source=str(path))
        return model.eval()

    @classmethod
    def from_published(
        cls,
        name: str,
        source: str | Path | None = None,
        *,
        statistics: DatasetStatistics | None = None,
        **hub_kwargs: Any,
    ) -> FaciesCNN:
        """One of the authors' 18 published models (:data:`modeling.network.published.PUBLISHED`), converted from
        a local copy of their weight files or loaded from a hub repository.

        Args:
            name: registry name, e.g. ``fold0-after``, ``fold3-before``, ``optical-fold5-after``.
            source: a local copy of the release's ``weights/`` folder (the file is found there and its sha256
                checked), or a converted model: a model folder or hub repo id. Default: the registry's hub
                repository, ``PublishedWeights.repo_id``.
            statistics: a built dataset's statistics for the normalisation; the published weights carry none.
            hub_kwargs: for a hub repository, :meth:`from_pretrained`'s (``revision``, ``cache_dir``, ...).

        Raises:
            WeightsError: for an unknown name, or a file, folder or repository holding other weights.
            FileNotFoundError: for a weights folder without the file, or a source that is no folder or repo id.
        """
        entry = published_weights(name)
        if source is not None and Path(source).is_dir() and not (Path(source) / CONFIG_FILE).is_file():
            model = cls.from_keras(entry.locate(source))
        else:
            location = str(source or entry.repo_id)
            model = cls.from_pretrained(location, **hub_kwargs)
            if (model.config.provenance or {}).get("sha256") != entry.sha256:
                raise WeightsError(f"{location}: not converted from the published {name} ({entry.file})")
        return model if statistics is None else model.with_statistics(statistics)

    # -- hub integration ------------------------------------------------------------------------------

    def generate_model_card(
        self, *, eval_results: Sequence[EvalResult] | None = None, repo_id: str | None = None
    ) -> ModelCard:
        """The model card (``README.md``); see :func:`render_model_card`."""
        return ModelCard(render_model_card(self.config, eval_results=eval_results, repo_id=repo_id))

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``model.safetensors`` atomically (the mixin writes ``config.json`` and the card)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(Path(save_directory) / WEIGHTS_FILE) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: Any = None,
        model_card_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        """The mixin's ``save_pretrained`` (``model.safetensors``, ``config.json``, ``README.md``; with
        ``push_to_hub=True`` also the upload), except that the card and the evaluation-results file
        (``.eval_results/``, when there are test results) are always rewritten, and ``config`` is refused.

        ``model_card_kwargs`` go to :meth:`generate_model_card` (``eval_results``, ``repo_id``).
        """
        if config is not None:
            raise ValueError("FaciesCNN saves its own config (model.config); build a new model to change it")
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CARD_FILE).unlink(missing_ok=True)
        results_file = directory / model_card.EVAL_RESULTS_FILE
        results = model_card.render_eval_results(self.config.to_dict(), (model_card_kwargs or {}).get("eval_results"))
        if results is None:
            results_file.unlink(missing_ok=True)
        else:
            results_file.parent.mkdir(exist_ok=True)
            atomic_write_text(results_file, results)
        return super().save_pretrained(directory, model_card_kwargs=model_card_kwargs, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        map_location: str = "cpu",
    ) -> FaciesCNN:
        """Load a model folder or hub repository (eval mode): ``config.json`` read strictly
        (:func:`~modeling.network.config.read_config`), then the mixin's loading with that config.

        Raises:
            FileNotFoundError: without ``config.json``.
            ConfigError: naming ``config.json``, for a file that is not a bounded, valid config.
            WeightsError: naming the weights, when there is no ``model.safetensors`` (pickles are never read)
                or it does not fit the config.
        """
        model_id = str(pretrained_model_name_or_path)
        hub = dict(
            force_download=force_download,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            revision=revision,
        )
        path = _model_file(model_id, CONFIG_FILE, **hub)
        if path is None:
            raise FileNotFoundError(
                2, f"no {CONFIG_FILE}; a FaciesCNN folder holds {CONFIG_FILE} and {WEIGHTS_FILE}", model_id
            )
        return super().from_pretrained(model_id, **hub, config=read_config(path), map_location=map_location)

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
        config: FaciesCNNConfig,
        map_location: str = "cpu",
    ) -> FaciesCNN:
        """Check ``model.safetensors``'s header against ``config`` (names, shapes, kinds), then build the model
        and load the tensors."""
        weights = _model_file(
            model_id,
            WEIGHTS_FILE,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        if weights is None:
            folder = Path(model_id)
            pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES) if folder.is_dir() else []
            found = f"; it holds {pickles}, which are pickles and never loaded" if pickles else ""
            raise WeightsError(f"{model_id}: no {WEIGHTS_FILE}{found}. FaciesCNN loads safetensors weights only")
        state = read_safetensors(weights, cls.tensor_specs(config), f"FaciesCNN({list(config.bands)})")
        model = cls(config)
        model.load_state_dict(state, strict=True)
        return model.to(map_location).eval()


def read_safetensors(path: Path, expected: Mapping[str, TensorSpec], model: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, read only after its header matched ``expected`` exactly.

    Raises:
        WeightsError: naming the file, for a file that is not safetensors (bad header, truncated) or whose
            tensors do not fit ``model``.
    """
    try:
        with safe_open(str(path), framework="pt") as weights:
            found = {
                k: TensorSpec(tuple(weights.get_slice(k).get_shape()), weights.get_slice(k).get_dtype() in FLOAT_DTYPES)
                for k in weights.keys()
            }
            problems = weight_problems(expected, found)
            if problems:
                raise WeightsError(f"{path} does not fit {model}: " + "; ".join(problems))
            return {k: weights.get_tensor(k) for k in weights.keys()}
    except SafetensorError as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err


def render_model_card(
    config: FaciesCNNConfig, *, eval_results: Sequence[EvalResult] | None = None, repo_id: str | None = None
) -> str:
    """The Markdown model card of a FaciesCNN with this config: :func:`hub_cards.model_card.render_model_card`
    of ``config.to_dict()`` with the metadata and links the class gives the hub mixin."""
    info = FaciesCNN._hub_mixin_info
    return model_card.render_model_card(
        config.to_dict(),
        metadata=info.model_card_data.to_dict(),
        links={"code": info.repo_url, "paper": info.paper_url, "docs": info.docs_url},
        eval_results=eval_results,
        repo_id=repo_id,
    )
