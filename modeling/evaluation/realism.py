"""How real a dataset looks to the published models: what their BatchNorm statistics say, and how they transfer.

Every BatchNorm layer of the authors' Keras models stores the running mean and variance of its input (the
convolution before it) over the real training patches, so the weights carry evidence about the real data that
needs no real data (the idea behind BN-statistics matching in data-free distillation). Three figures follow:

- **Implied band statistics.** The first convolution is linear in its input. Over 33 px patches with "same" zero
  padding, its stored mean is ``bias + A @ m``, where ``m`` holds the mean normalised value of each band and
  ``A[k, b]`` sums filter k's taps on band b, each weighted by the share of patch positions where that tap falls
  inside the patch: 64 equations, one unknown per band, solved by least squares for each model
  (:func:`implied_band_means`). Taking the inputs as constant over each 3 x 3 neighbourhood, the stored variance
  is linear in the band covariance; fitted jointly over the models of one band set (their training folds overlap,
  so they share roughly one covariance), with jackknife standard errors over the models
  (:func:`implied_band_variances`). A variance counts as pinned where it exceeds three standard errors.
  Where it is, mean and variance together fix the real data's global min-max in the band's own units, given the
  dataset's mean and spread in those units (:func:`implied_extremes`): for elevation, scaled per glacier, it says how
  far beyond its glacier's range the terrain in the real patches reaches.
- **BN distance.** The dataset's patches, normalised as the model expects (global per-band min-max of the
  dataset), go through each published model; at every BN layer, over channels, the mean of
  ``|mu_data - mu_stored| / sigma_stored`` and of ``|log(var_data / var_stored)|`` (:func:`bn_distances`). Run
  as the models map, in eval mode, a mismatch at one layer is handed on to every later one; run as the stored
  statistics were made, every layer on its batch's own statistics, each layer's distance is its own
  (:func:`own_bn_distances`), which says where along the network the dataset departs from the real data.
  Each sensor's rows also get their own distances on their own (:func:`sensor_rows`), which says which rows
  carry a mismatch: a sensor whose rows differ in spatial structure from the real data stands out.
- **Transfer.** Each published model's predictions against the dataset's labels and, for a synthetic dataset,
  against the true classes (:func:`check_realism`).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq
import torch
from matplotlib.figure import Figure
from torch import nn

from dataset_builder.atomic import atomic_write_text
from dataset_builder.quicklook import save_figure
from dataset_builder.records import PatchBatch
from dataset_builder.schema import CLASS_NAMES, PATCH_SIZE, canonical_class
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.writer import iter_rows, read_manifest
from modeling.evaluation.metrics import classification_report
from modeling.network import FaciesCNN, evaluating, load_keras_weights, normalize

#: The published weights beside the repository (``../shared/upstream/weights``); never copied into it.
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "upstream" / "weights"
#: A fitted variance counts as pinned by the weights where it exceeds this many jackknife standard errors.
PINNED_SE = 3.0
#: File names of the published weights: ``{fold}_cnn_{before,after}confidentlearning_weights.h5``.
WEIGHT_NAME = re.compile(r"^(?P<fold>\d+)_cnn_(?P<stage>before|after)confidentlearning_weights\.h5$")
#: The bound issue 14 sets on the BN distance in the mean at every layer (sigma units); drawn on the plot.
BN_TARGET_SIGMA = 0.3
#: The batch size the published models were trained with (``upstream/code/dataloader.py``, ``default_batch_size``):
#: their BN layers' stored statistics are running averages over batches of this size.
TRAINING_BATCH_SIZE = 512
#: Fewest rows of one sensor for :func:`check_realism` to give that sensor's rows their own BN distances: fewer make
#: noisy batch statistics.
MIN_SENSOR_ROWS = 100
REALISM_JSON = "realism.json"
REALISM_PNG = "realism.png"


@dataclass
class PublishedModel:
    """One published model, converted: ``name`` such as ``11-band fold 0 after`` or ``optical fold 3 after``."""

    name: str
    band_set: str  # "11-band" or "optical"
    fold: int
    stage: str  # "after" or "before" confident-learning pruning
    model: FaciesCNN


def load_published(
    weights: str | Path = DEFAULT_WEIGHTS, statistics: DatasetStatistics | None = None
) -> list[PublishedModel]:
    """Every published weight file under ``weights`` (recursively), converted; 11-band models first, then by fold.

    Args:
        weights: the folder of ``{fold}_cnn_{stage}confidentlearning_weights.h5`` files (``optical/`` inside).
        statistics: a built dataset's statistics, for the models' normalisation (``with_statistics``).

    Raises:
        FileNotFoundError: when the folder holds no published weight file.
    """
    files = sorted(p for p in Path(weights).rglob("*.h5") if WEIGHT_NAME.match(p.name))
    if not files:
        raise FileNotFoundError(
            f"{weights}: no published weight files ({{fold}}_cnn_{{stage}}confidentlearning_weights.h5)"
        )
    out = []
    for path in files:
        match = WEIGHT_NAME.match(path.name)
        model = load_keras_weights(path, statistics=statistics)
        band_set = "optical" if model.config.num_bands == 6 else f"{model.config.num_bands}-band"
        fold, stage = int(match["fold"]), match["stage"]
        out.append(PublishedModel(f"{band_set} fold {fold} {stage}", band_set, fold, stage, model))
    return sorted(out, key=lambda m: (m.band_set == "optical", m.stage != "after", m.fold))


def batch_norms(model: FaciesCNN) -> list[nn.BatchNorm2d]:
    """The model's BatchNorm layers in forward order (3 of scale 1, then 3 of scale 2)."""
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def _tap_validity(patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The tap patterns of a 3 x 3 "same" convolution over a ``patch_size`` px patch.

    Returns:
        ``(masks (9, 3, 3), weights (9,))``: for each kind of position (corner, edge or interior, in rows and
        columns), which taps fall inside the patch, and the share of positions of that kind.
    """
    share = np.array([1.0, patch_size - 2.0, 1.0]) / patch_size  # first row, inner rows, last row
    valid = np.array([[0, 1, 1], [1, 1, 1], [1, 1, 0]], dtype=np.float64)  # taps -1, 0, +1 inside, per position kind
    masks = np.einsum("ri,cj->rcij", valid, valid).reshape(9, 3, 3)
    return masks, np.outer(share, share).ravel()


def first_layer_operators(model: FaciesCNN, patch_size: int = PATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The first convolution as seen by its BatchNorm, per kind of patch position.

    Returns:
        ``(operators (9, filters, bands), weights (9,))``: the convolution of an input constant over the 3 x 3
        neighbourhood at a position of each kind is ``bias + operators[p] @ x``; ``weights`` are the shares of
        positions of each kind in a ``patch_size`` px patch.
    """
    kernel = model.stage1[0].conv.weight.detach().double().numpy()  # (filters, bands, 3, 3)
    masks, weights = _tap_validity(patch_size)
    return np.einsum("kbij,pij->pkb", kernel, masks), weights


def implied_band_means(model: FaciesCNN, patch_size: int = PATCH_SIZE) -> tuple[np.ndarray, float]:
    """The mean normalised value of each input band over the training patches, from the first BN layer's stored mean.

    Returns:
        ``(means (bands,), r)``: the least-squares solution and the correlation of the fitted with the stored means.
    """
    operators, weights = first_layer_operators(model, patch_size)
    a = np.einsum("p,pkb->kb", weights, operators)
    bias = model.stage1[0].conv.bias.detach().double().numpy()
    stored = model.stage1[0].bn.running_mean.detach().double().numpy()
    means = np.linalg.lstsq(a, stored - bias, rcond=None)[0]
    return means, float(np.corrcoef(a @ means + bias, stored)[0, 1])


def _variance_design(model: FaciesCNN, means: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(filters, bands * (bands + 1) / 2)`` and right-hand side ``(filters,)`` of the stored first-layer
    variance as a linear function of the band covariance's upper triangle (inputs constant over 3 x 3)."""
    operators, weights = first_layer_operators(model, patch_size)
    bands = operators.shape[2]
    upper = np.triu_indices(bands)
    outer = np.einsum("pkb,pkc->pkbc", operators, operators)
    outer = outer + outer.transpose(0, 1, 3, 2) - outer * np.eye(bands)  # off-diagonal terms count twice
    design = np.einsum("p,pkbc->kbc", weights, outer)[:, upper[0], upper[1]]
    level = operators @ means  # (positions, filters): the mean response at each kind of position
    spread = np.einsum("p,pk->k", weights, level**2) - np.einsum("p,pk->k", weights, level) ** 2
    stored = model.stage1[0].bn.running_var.detach().double().numpy()
    return design, stored - spread


def implied_band_variances(
    models: Sequence[FaciesCNN], means: np.ndarray, patch_size: int = PATCH_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The variance of each normalised band over the training patches, fitted jointly to the models' first BN layer.

    Args:
        models: models of one band set (at least two).
        means: ``(bands,)`` implied band means (:func:`implied_band_means`, averaged over the models).
        patch_size: training patch side in pixels.

    Returns:
        ``(variances (bands,), standard_errors (bands,))``, the errors by jackknife over the models.
    """
    systems = [_variance_design(m, means, patch_size) for m in models]
    bands = len(means)
    diagonal = [i for i, (r, c) in enumerate(zip(*np.triu_indices(bands))) if r == c]

    def fit(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        design = np.concatenate([d for d, _ in parts])
        target = np.concatenate([t for _, t in parts])
        return np.linalg.lstsq(design, target, rcond=None)[0][diagonal]

    full = fit(systems)
    n = len(systems)
    leave_one_out = np.array([fit(systems[:i] + systems[i + 1 :]) for i in range(n)])
    se = np.sqrt((n - 1) / n * ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0))
    return full, se


def implied_extremes(
    raw_mean: float, raw_sd: float, implied_mean: float, implied_variance: float
) -> tuple[float, float]:
    """The global min-max that would give a band of mean ``raw_mean`` and sd ``raw_sd`` (the band's own units) the
    normalised mean and variance the weights imply: ``span = raw_sd / sqrt(implied_variance)``, ``min = raw_mean -
    implied_mean * span``. Meaningful where the real band's mean and spread in its own units are the dataset's.

    Returns:
        ``(min, max)`` in the band's own units.
    """
    if implied_variance <= 0:
        raise ValueError(f"implied_variance must be positive, got {implied_variance}")
    span = raw_sd / np.sqrt(implied_variance)
    low = raw_mean - implied_mean * span
    return float(low), float(low + span)


@dataclass
class BandEvidence:
    """Per band of one band set: what the published weights imply about the real data, and the dataset's figures.

    All values are of the band normalised by the dataset's global min-max (as the models see it).
    """

    band_set: str
    bands: list[str]
    implied_mean: list[float]  # averaged over the band set's models
    implied_mean_sd: list[float]  # spread over the models (their training folds differ)
    fit_r: list[float]  # per model: correlation of the fitted with the stored first-layer means
    implied_variance: list[float]
    variance_se: list[float]
    pinned: list[bool]  # variance > PINNED_SE standard errors
    dataset_mean: list[float]
    dataset_variance: list[float]
    dataset_min: list[float]  # the band's own units, as statistics.json holds them
    dataset_max: list[float]
    implied_min: list[float | None]  # :func:`implied_extremes`, where the variance is pinned
    implied_max: list[float | None]

    @property
    def mean_gap(self) -> list[float]:
        """Dataset minus implied mean, per band."""
        return [d - i for d, i in zip(self.dataset_mean, self.implied_mean)]


def band_evidence(
    band_set: str, models: Sequence[FaciesCNN], statistics: DatasetStatistics, patch_size: int = PATCH_SIZE
) -> BandEvidence:
    """The implied band statistics of one band set's models next to the dataset's (:class:`BandEvidence`)."""
    bands = list(models[0].config.bands)
    solved = [implied_band_means(m, patch_size) for m in models]
    means = np.array([m for m, _ in solved])
    variance, se = implied_band_variances(models, means.mean(axis=0), patch_size)
    by_name = {b.name: b for b in statistics.bands}
    span = np.array([by_name[b].max - by_name[b].min for b in bands])
    dataset_mean = (np.array([by_name[b].mean for b in bands]) - [by_name[b].min for b in bands]) / span
    dataset_variance = (np.array([by_name[b].std for b in bands]) / span) ** 2
    pinned = [bool(v > PINNED_SE * s) for v, s in zip(variance, se)]
    extremes = [
        implied_extremes(by_name[b].mean, by_name[b].std, m, v) if p else (None, None)
        for b, m, v, p in zip(bands, means.mean(axis=0), variance, pinned)
    ]
    return BandEvidence(
        band_set=band_set,
        bands=bands,
        implied_mean=means.mean(axis=0).tolist(),
        implied_mean_sd=means.std(axis=0).tolist(),
        fit_r=[r for _, r in solved],
        implied_variance=variance.tolist(),
        variance_se=se.tolist(),
        pinned=pinned,
        dataset_mean=dataset_mean.tolist(),
        dataset_variance=dataset_variance.tolist(),
        dataset_min=[by_name[b].min for b in bands],
        dataset_max=[by_name[b].max for b in bands],
        implied_min=[low for low, _ in extremes],
        implied_max=[high for _, high in extremes],
    )


class _BNRecorder:
    """Per-channel sums of every BN layer's input over the batches run through a model (float64)."""

    def __init__(self, model: FaciesCNN) -> None:
        self.layers = batch_norms(model)
        self.count = np.zeros(len(self.layers))
        self.total = [np.zeros(bn.num_features) for bn in self.layers]
        self.squares = [np.zeros(bn.num_features) for bn in self.layers]
        self.handles = [bn.register_forward_hook(self._hook(i)) for i, bn in enumerate(self.layers)]

    def _hook(self, index: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        """A forward hook adding the input of BN layer ``index`` to the sums."""

        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
            x = inputs[0].detach().double()
            self.count[index] += x.shape[0] * x.shape[2] * x.shape[3]
            self.total[index] += x.sum(dim=(0, 2, 3)).numpy()
            self.squares[index] += (x * x).sum(dim=(0, 2, 3)).numpy()

        return record

    def close(self) -> list[dict[str, float]]:
        """Remove the hooks; per layer, the distance of the recorded statistics to the stored ones."""
        for handle in self.handles:
            handle.remove()
        out = []
        for bn, n, total, squares in zip(self.layers, self.count, self.total, self.squares):
            mean = total / n
            var = np.maximum(squares / n - mean**2, 0.0) + bn.eps
            stored_mean = bn.running_mean.double().numpy()
            stored_var = bn.running_var.double().numpy() + bn.eps
            out.append(
                {
                    "mean_sigma": float(np.mean(np.abs(mean - stored_mean) / np.sqrt(stored_var))),
                    "log_var": float(np.mean(np.abs(np.log(var / stored_var)))),
                }
            )
        return out


def _forward(model: FaciesCNN, batches: Iterable[np.ndarray]) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Class probabilities of ``batches`` of raw patches and the BN distances they produce, in the mode the caller
    set (:func:`evaluating`, and for :func:`own_bn_distances` the BN layers on batch statistics)."""
    recorder = _BNRecorder(model)
    try:
        proba = [
            torch.softmax(model(torch.from_numpy(normalize(batch, model.config))), dim=1).numpy() for batch in batches
        ]
    finally:
        distances = recorder.close()
    return np.concatenate(proba), distances


def run_published(
    model: FaciesCNN, patches: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """One pass of raw patches through a model: its class probabilities and its BN distances.

    Args:
        model: a model with normalisation (``with_statistics``).
        patches: ``(N, bands, H, W)`` raw band values, in the dataset's conventions.
        batch_size: patches per forward pass.

    Returns:
        ``(probabilities (N, classes), distances)``; one ``{"mean_sigma", "log_var"}`` per BN layer, in order.
    """
    with evaluating(model):
        return _forward(model, (patches[i : i + batch_size] for i in range(0, len(patches), batch_size)))


def bn_distances(model: FaciesCNN, patches: np.ndarray, batch_size: int = 256) -> list[dict[str, float]]:
    """Per BN layer, the distance of the statistics ``patches`` produce there to the stored ones (see
    :func:`run_published`)."""
    return run_published(model, patches, batch_size)[1]


@contextmanager
def _batch_statistics(model: FaciesCNN) -> Iterator[None]:
    """The model's BN layers normalise with each batch's own statistics, as in training, and leave their stored
    ones as they are; the rest of the model (dropout) stays as it is."""
    layers = batch_norms(model)
    saved = [(bn.training, bn.track_running_stats) for bn in layers]
    try:
        for bn in layers:
            bn.train()
            bn.track_running_stats = False  # batch statistics, stored ones neither used nor updated
        yield
    finally:
        for bn, (training, track) in zip(layers, saved):
            bn.train(training)
            bn.track_running_stats = track


def own_bn_distances(
    model: FaciesCNN, patches: np.ndarray, batch_size: int = TRAINING_BATCH_SIZE
) -> list[dict[str, float]]:
    """Per BN layer, the part of its distance that is its own, not inherited from the layers before it.

    The stored statistics are running averages over training batches in which every BN layer normalised with the
    batch's own statistics. Run so (``patches`` split into near-equal batches of about ``batch_size``), each layer
    sees its input as the layers before it would hand it on had they been trained on these patches: a mismatch
    the first layer passes on is standardised away, and what is left at a layer comes from the features the
    layers since the previous BN make of the data (its convolution, and at the second scale the max-pooling).
    Eval-mode distances (:func:`bn_distances`) compound these along the network.

    Returns:
        one ``{"mean_sigma", "log_var"}`` per BN layer, in order (as :func:`bn_distances`).
    """
    with evaluating(model), _batch_statistics(model):
        return _forward(model, np.array_split(patches, max(1, round(len(patches) / batch_size))))[1]


def sensor_rows(sensor: np.ndarray, min_rows: int = MIN_SENSOR_ROWS) -> dict[str, np.ndarray]:
    """Row positions per sensor, in name order, for the sensors that ``sensor`` (``(N,)`` names; None or "" where a
    row names none) gives at least ``min_rows`` rows; none unless two sensors have that many (one sensor's rows
    are the dataset's)."""
    named = np.array([s or "" for s in sensor], dtype=object)
    groups = {s: np.flatnonzero(named == s) for s in sorted(set(named) - {""})}
    groups = {s: rows for s, rows in groups.items() if len(rows) >= min_rows}
    return groups if len(groups) >= 2 else {}


def own_bn_distances_by_sensor(
    model: FaciesCNN, patches: np.ndarray, sensor: np.ndarray, min_rows: int = MIN_SENSOR_ROWS
) -> dict[str, list[dict[str, float]]]:
    """:func:`own_bn_distances` of each sensor's rows on their own (the sensors :func:`sensor_rows` keeps): which
    rows carry a mismatch.

    Args:
        model: a model with normalisation (``with_statistics``).
        patches: ``(N, bands, H, W)`` raw band values.
        sensor: ``(N,)`` sensor names (None or "" where unknown).
        min_rows: fewest rows of a sensor.
    """
    return {s: own_bn_distances(model, patches[at]) for s, at in sensor_rows(sensor, min_rows).items()}


def read_truth(path: str | Path) -> dict[str, int]:
    """``sample_id`` -> true class code from a Parquet table with ``sample_id`` and ``true_class`` (class names)."""
    table = pq.read_table(path, columns=["sample_id", "true_class"]).to_pydict()
    return {sid: CLASS_NAMES.index(canonical_class(c)) for sid, c in zip(table["sample_id"], table["true_class"])}


def sample_rows(dataset: str | Path, max_rows: int | None = None, seed: int = 0) -> PatchBatch:
    """The rows of a built dataset (both configs), or a uniform random ``max_rows`` of them, in dataset order; only
    the rows kept are held in memory."""
    total = sum(shard["rows"] for shard in read_manifest(dataset)["shards"])
    keep = np.arange(total)
    if max_rows is not None and total > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
    parts, start = [], 0
    for batch in iter_rows(dataset):
        chosen = keep[(keep >= start) & (keep < start + len(batch))] - start
        if chosen.size:
            parts.append(batch.take(chosen))
        start += len(batch)
    return PatchBatch.concat(parts)


def _layer_means(distances: Sequence[list[dict[str, float]]], key: str = "mean_sigma") -> list[float]:
    """Per BN layer, the mean of ``key`` over the models' distances (one list of per-layer dicts per model)."""
    return np.mean([[d[key] for d in layers] for layers in distances], axis=0).tolist()


@dataclass
class TransferScore:
    """One published model on the dataset: BN distances per layer and classification reports."""

    name: str
    band_set: str
    fold: int
    stage: str
    bn: list[dict[str, float]]  # eval mode, as the model maps (:func:`bn_distances`)
    bn_own: list[dict[str, float]]  # each layer's own part (:func:`own_bn_distances`)
    labels: dict[str, Any]  # classification_report against the dataset's labels
    truth: dict[str, Any] | None  # against the true classes (synthetic data), or None
    #: the own distances of each sensor's rows on their own (:func:`sensor_rows`): which rows carry a mismatch
    bn_own_by_sensor: dict[str, list[dict[str, float]]] = field(default_factory=dict)


@dataclass
class RealismReport:
    """Everything :func:`check_realism` measured (JSON round trip with :meth:`to_dict`)."""

    dataset: str
    rows: int  # rows the models ran on
    truth: str | None
    evidence: list[BandEvidence]
    transfer: list[TransferScore]
    bn_layers: list[str] = field(default_factory=lambda: [f"scale {s} conv {i}" for s in (1, 2) for i in (1, 2, 3)])
    rows_by_sensor: dict[str, int] = field(default_factory=dict)  # rows per sensor given own distances

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"summary": self.summary()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RealismReport":
        fields = {k: v for k, v in data.items() if k != "summary"}
        return cls(
            **fields
            | {
                "evidence": [BandEvidence(**e) for e in data["evidence"]],
                "transfer": [TransferScore(**t) for t in data["transfer"]],
            }
        )

    def group(self, band_set: str, stage: str = "after") -> list[TransferScore]:
        return [t for t in self.transfer if t.band_set == band_set and t.stage == stage]

    def summary(self) -> dict[str, Any]:
        """Headline figures: per band set the worst band-mean gap; per model group (band set, stage) the mean
        macro-F1 against labels and truth and the mean BN distance per layer."""
        out: dict[str, Any] = {
            "worst_mean_gap": {e.band_set: max(map(abs, e.mean_gap)) for e in self.evidence},
        }
        groups = sorted({(t.band_set, t.stage) for t in self.transfer}, key=lambda g: (g[0] == "optical", g[1]))
        for band_set, stage in groups:
            scores = self.group(band_set, stage)
            key = f"{band_set} {stage}"
            out[key] = {
                "models": len(scores),
                "macro_f1_labels": float(np.mean([t.labels["macro_f1"] for t in scores])),
                "macro_f1_truth": None
                if scores[0].truth is None
                else float(np.mean([t.truth["macro_f1"] for t in scores])),
                "bn_mean_sigma": _layer_means([t.bn for t in scores]),
                "bn_log_var": _layer_means([t.bn for t in scores], "log_var"),
                "bn_own_mean_sigma": _layer_means([t.bn_own for t in scores]),
                "bn_own_by_sensor": {
                    s: _layer_means([t.bn_own_by_sensor[s] for t in scores]) for s in self.rows_by_sensor
                },
            }
        return out

    def format(self) -> str:
        """Human-readable lines: band evidence, BN distances and transfer per model group."""
        lines = [f"realism of {self.dataset} ({self.rows} rows through the models; truth: {self.truth or 'none'})"]
        for e in self.evidence:
            lines.append(f"  {e.band_set} models: normalised band means, implied by the weights vs the dataset")
            lines.append(
                f"    {'band':>12} {'implied':>8} {'+-':>6} {'dataset':>8} {'gap':>7} {'var impl':>9} {'var data':>9}"
                f"  {'min..max implied':>17} {'dataset':>17}"
            )
            for i, band in enumerate(e.bands):
                var = f"{e.implied_variance[i]:9.4f}" if e.pinned[i] else f"{'-':>9}"
                implied = f"{e.implied_min[i]:8.3f}..{e.implied_max[i]:<7.3f}" if e.pinned[i] else f"{'-':>17}"
                lines.append(
                    f"    {band:>12} {e.implied_mean[i]:8.3f} {e.implied_mean_sd[i]:6.3f} {e.dataset_mean[i]:8.3f} "
                    f"{e.mean_gap[i]:+7.3f} {var} {e.dataset_variance[i]:9.4f}  {implied} "
                    f"{e.dataset_min[i]:8.3f}..{e.dataset_max[i]:<7.3f}"
                )
        for key, s in self.summary().items():
            if key == "worst_mean_gap":
                continue
            truth = "-" if s["macro_f1_truth"] is None else f"{s['macro_f1_truth']:.3f}"
            lines.append(
                f"  {key} ({s['models']} models): macro-F1 vs labels {s['macro_f1_labels']:.3f}, vs truth {truth}; "
                "BN |dmu|/sigma "
                + " ".join(f"{v:.2f}" for v in s["bn_mean_sigma"])
                + "; |log var ratio| "
                + " ".join(f"{v:.2f}" for v in s["bn_log_var"])
                + "; own |dmu|/sigma "
                + " ".join(f"{v:.2f}" for v in s["bn_own_mean_sigma"])
            )
            for i, (sensor, own) in enumerate(s["bn_own_by_sensor"].items()):
                lead = "own |dmu|/sigma by sensor:" if i == 0 else ""
                rows = f"{sensor} ({self.rows_by_sensor[sensor]} rows)"
                lines.append(f"    {lead:<27} {rows:<16} " + " ".join(f"{v:.2f}" for v in own))
        return "\n".join(lines)

    def figure(self) -> Figure:
        """Three panels: band means (implied vs dataset), BN distance per layer, macro-F1 per published model; a
        fourth, where sensors were told apart, with the own BN distance of each sensor's rows (first model group)."""
        panels = 4 if self.rows_by_sensor else 3
        fig = Figure(figsize=(19 if self.rows_by_sensor else 15, 5.6), layout="constrained")
        axes = fig.subplots(1, panels, width_ratios=[1.3, 1, 1.3, 1][:panels])
        ax_bands, ax_bn, ax_f1 = axes[:3]
        evidence = self.evidence[0]
        x = np.arange(len(evidence.bands))
        ax_bands.bar(x - 0.2, evidence.implied_mean, 0.4, yerr=evidence.implied_mean_sd, label="implied by the weights")
        ax_bands.bar(x + 0.2, evidence.dataset_mean, 0.4, label="this dataset")
        ax_bands.set_xticks(x, evidence.bands, rotation=45, ha="right")
        ax_bands.set_ylabel("mean normalised value")
        ax_bands.set_title(f"band means ({evidence.band_set} models)")
        ax_bands.legend(fontsize="small")
        summary = self.summary()
        layers = np.arange(len(self.bn_layers))
        for key, s in summary.items():
            if key != "worst_mean_gap":
                ax_bn.plot(layers, s["bn_mean_sigma"], "o-", label=f"{key}: |dmu|/sigma")
                ax_bn.plot(layers, s["bn_log_var"], "x--", label=f"{key}: |log var ratio|")
                ax_bn.plot(layers, s["bn_own_mean_sigma"], "s:", label=f"{key}: own |dmu|/sigma")
        ax_bn.axhline(
            BN_TARGET_SIGMA, color="0.5", lw=0.8, ls=":", label=f"{BN_TARGET_SIGMA} (issue 14's bound on |dmu|/sigma)"
        )
        ax_bn.set_ylim(bottom=0)
        ax_bn.set_xticks(layers, self.bn_layers, rotation=45, ha="right")
        ax_bn.set_title("BN statistics: dataset vs stored")
        ax_bn.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.32), ncols=2)
        names = [t.name for t in self.transfer]
        ax_f1.barh(np.arange(len(names)), [t.labels["macro_f1"] for t in self.transfer], 0.4, label="vs labels")
        if self.truth:
            ax_f1.barh(np.arange(len(names)) + 0.4, [t.truth["macro_f1"] for t in self.transfer], 0.4, label="vs truth")
        ax_f1.set_yticks(np.arange(len(names)) + 0.2, names, fontsize="small")
        ax_f1.invert_yaxis()
        ax_f1.set_xlim(0, 1)
        ax_f1.set_xlabel("macro-F1")
        ax_f1.set_title("published models on this dataset")
        ax_f1.legend(fontsize="small")
        if self.rows_by_sensor:
            key, first = next((k, v) for k, v in summary.items() if k != "worst_mean_gap")
            for sensor, own in first["bn_own_by_sensor"].items():
                axes[3].plot(layers, own, "s:", label=f"{sensor} ({self.rows_by_sensor[sensor]} rows)")
            axes[3].plot(layers, first["bn_own_mean_sigma"], "k-", lw=1, label="all rows")
            axes[3].set_ylim(bottom=0)
            axes[3].set_xticks(layers, self.bn_layers, rotation=45, ha="right")
            axes[3].set_title(f"own |dmu|/sigma by sensor ({key})")
            axes[3].legend(fontsize="x-small")
        return fig

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """``realism.json`` and ``realism.png`` into ``out_dir``; returns their paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / REALISM_JSON, json.dumps(self.to_dict(), indent=1) + "\n")
        return out_dir / REALISM_JSON, save_figure(self.figure(), out_dir / REALISM_PNG)


def check_realism(
    dataset: str | Path,
    weights: str | Path = DEFAULT_WEIGHTS,
    *,
    truth: str | Path | None = None,
    max_rows: int | None = 4000,
    stages: Sequence[str] = ("after", "before"),
    batch_size: int = 256,
    seed: int = 0,
    min_sensor_rows: int = MIN_SENSOR_ROWS,
) -> RealismReport:
    """Measure how real a built dataset looks to the published models (see the module docstring).

    Args:
        dataset: a built dataset folder (``statistics.json`` gives each model its normalisation).
        weights: the published weights folder.
        truth: a Parquet table of true classes (``sample_id``, ``true_class``), e.g. a synthetic benchmark's
            ``truth/labels.parquet`` (a built dataset records no local path, so it is never guessed).
        max_rows: run the models on a uniform random sample of this many rows (None: all).
        stages: the pruning stages of the models to run (``after`` and/or ``before``).
        batch_size: patches per forward pass.
        seed: seed of the row sample.
        min_sensor_rows: fewest rows of a sensor for its own BN distances (:func:`own_bn_distances_by_sensor`).
    """
    statistics = DatasetStatistics.load(dataset)
    published = load_published(weights, statistics)
    evidence = [
        band_evidence(band_set, [p.model for p in published if p.band_set == band_set], statistics)
        for band_set in dict.fromkeys(p.band_set for p in published)
    ]
    rows = sample_rows(dataset, max_rows, seed)
    true_codes = None
    if truth is not None:
        table = read_truth(truth)
        true_codes = np.array([table[sid] for sid in rows.sample_id])
    band_index = {b: i for i, b in enumerate(statistics.band_names)}
    transfer = []
    for p in published:
        if p.stage not in stages:
            continue
        patches = rows.patches[:, [band_index[b] for b in p.model.config.bands]]
        proba, distances = run_published(p.model, patches, batch_size)
        pred = proba.argmax(axis=1)
        transfer.append(
            TransferScore(
                name=p.name,
                band_set=p.band_set,
                fold=p.fold,
                stage=p.stage,
                bn=distances,
                bn_own=own_bn_distances(p.model, patches),
                labels=classification_report(rows.label, pred, n_bootstrap=0),
                truth=None if true_codes is None else classification_report(true_codes, pred, n_bootstrap=0),
                bn_own_by_sensor=own_bn_distances_by_sensor(p.model, patches, rows.sensor, min_sensor_rows),
            )
        )
    return RealismReport(
        dataset=str(dataset),
        rows=len(rows),
        truth=None if truth is None else str(truth),
        evidence=evidence,
        transfer=transfer,
        rows_by_sensor={s: len(at) for s, at in sensor_rows(rows.sensor, min_sensor_rows).items()},
    )
