"""The model card (``README.md``) and evaluation-results file of every saved FaciesCNN, rendered from plain data.

``config`` arguments here are ``FaciesCNNConfig.to_dict()`` (the content of ``config.json``), ``metadata`` and
``links`` the card metadata and URLs the model class declares to the hub mixin: cards never need the modelling
code.

Evaluation results are written twice, as the hub reads them:

- ``model-index`` in the card's YAML (``huggingface_hub.EvalResult``): one result per label config and fold split
  of the hub dataset :data:`~hub_cards.common.DATASET_REPO_ID`, with its hub revision when known (a commit of the
  hub repository, never the local manifest hash);
- ``.eval_results/glacier-facies.yaml`` (the hub's newer format): the benchmark's headline metric, macro-F1 on the
  model's test fold, as one entry per benchmark task :func:`benchmark_task_id`. The hub shows such entries when
  the dataset repository declares these task ids in its ``eval.yaml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from huggingface_hub import EvalResult, ModelCardData

from dataset_builder.schema import BANDS_BY_NAME, SPLIT_NAMES
from hub_cards.common import DATASET_DOI, DATASET_REPO_ID, PAPER_TITLE, UPSTREAM_CODE, citation_section, render_card
from hub_cards.markdown import table

MODEL_NAME = "FaciesCNN"
LIBRARY_NAME = "glacier-facies"
PIPELINE_TAG = "image-classification"
TAGS = ["glacier-facies", "remote-sensing", "glaciology", "image-classification"]
TASK_NAME = "Glacier facies classification"
DATASET_NAME = "Pan-European glacier facies"
#: Metrics of every evaluation: hub metric id -> (key in a results record's metrics, name in the card).
METRICS = {
    "f1": ("macro_f1", "macro-F1"),
    "accuracy": ("accuracy", "overall accuracy"),
    "mean_iou": ("mean_iou", "mean IoU"),
}
#: The benchmark's headline metric: the one value of each ``.eval_results`` entry.
BENCHMARK_METRIC = "f1"
EVAL_RESULTS_FILE = ".eval_results/glacier-facies.yaml"
#: Fields of ``config.json`` shown as the architecture.
ARCHITECTURE_KEYS = ("patch_size", "filters", "depths", "pool_size", "dense_units", "dropout")


# -- evaluation results ------------------------------------------------------------------------------------


def hub_dataset_snapshot(path: str | Path) -> tuple[str, str] | None:
    """``(repo_id, commit)`` when ``path`` is a snapshot of a hub dataset in the hub cache
    (``.../datasets--{owner}--{name}/snapshots/{commit}``, as ``snapshot_download`` leaves it), else None."""
    parts = Path(path).resolve().parts
    if len(parts) < 3 or parts[-2] != "snapshots" or not parts[-3].startswith("datasets--"):
        return None
    owner_name = parts[-3].removeprefix("datasets--").split("--")
    return "/".join(owner_name), parts[-1]


def benchmark_task_id(config: str, split: str) -> str:
    """The benchmark task of macro-F1 on one label config and test fold, e.g. ``macro-f1-pruned-fold_0``: the
    ``task_id`` of ``.eval_results`` entries, to be declared (with that config and split) in the dataset's
    ``eval.yaml``."""
    return f"macro-f1-{config}-{split}"


def check_hub_revision(revision: str) -> str:
    """``revision`` when it can name a hub revision (commit, tag or branch).

    Raises:
        ValueError: for a local manifest hash (``sha256:...``), which the hub does not know.
    """
    if revision.startswith("sha256:"):
        raise ValueError(f"{revision!r} is a local manifest hash, not a hub revision (commit, tag or branch)")
    return revision


def eval_results_from_record(
    record: Mapping[str, Any],
    *,
    validation: Mapping[str, float] | None = None,
    dataset_repo_id: str = DATASET_REPO_ID,
    dataset_revision: str | None = None,
) -> list[EvalResult]:
    """Hub ``EvalResult`` entries of one fold's results record: test scores on each label config, and the
    best epoch's validation scores when given.

    Args:
        record: ``ResultsRecord.to_dict()`` of a single test fold (``folds``, ``dataset``, ``metrics``,
            ``details.split``).
        validation: ``{"val_macro_f1", "val_mean_iou"}`` of the selected epoch, on the validation fold.
        dataset_repo_id: the hub dataset evaluated on; replaced by the repository of a hub-cache snapshot.
        dataset_revision: its hub revision (a commit, tag or branch); default: the commit of a hub-cache
            snapshot, else none. The local manifest hash (``sha256:...``) is no hub revision and is refused.
    """
    if dataset_revision is not None:
        check_hub_revision(dataset_revision)
    snapshot = hub_dataset_snapshot(record["dataset"]["path"])
    if snapshot and dataset_revision is None:
        dataset_repo_id, dataset_revision = snapshot
    [fold] = record["folds"]

    def entry(split: str, config: str, metric: str, value: float, name: str) -> EvalResult:
        return EvalResult(
            task_type=PIPELINE_TAG,
            task_name=TASK_NAME,
            dataset_type=dataset_repo_id,
            dataset_name=DATASET_NAME,
            dataset_config=config,
            dataset_split=split,
            dataset_revision=dataset_revision,
            metric_type=metric,
            metric_value=round(float(value), 4),
            metric_name=name,
            metric_args={"average": "macro"} if metric == "f1" else None,
        )

    out = []
    if validation:
        split, config = SPLIT_NAMES[record["details"]["split"]["validation"]], record["dataset"]["config"]
        out += [
            entry(split, config, "f1", validation["val_macro_f1"], "validation macro-F1 (best epoch)"),
            entry(split, config, "mean_iou", validation["val_mean_iou"], "validation mean IoU (best epoch)"),
        ]
    for config, scores in record["metrics"].items():
        out += [
            entry(SPLIT_NAMES[fold], config, metric, scores[key], f"test {label} ({config} labels)")
            for metric, (key, label) in METRICS.items()
        ]
    return out


def render_eval_results(config: Mapping[str, Any], eval_results: Sequence[EvalResult] | None) -> str | None:
    """The ``.eval_results`` YAML of a model: one entry per test-fold macro-F1 among ``eval_results``, or None
    when there is none (no results, or no test fold recorded in ``config["training"]``)."""
    training = config.get("training") or {}
    if training.get("test_fold") is None:
        return None
    test_split = SPLIT_NAMES[training["test_fold"]]
    entries = [
        {
            "dataset": {
                "id": r.dataset_type,
                "task_id": benchmark_task_id(r.dataset_config, r.dataset_split),
                **({"revision": r.dataset_revision} if r.dataset_revision else {}),
            },
            "value": r.metric_value,
            "notes": f"macro-F1 on {test_split}, the model's test fold ({r.dataset_config} labels)",
        }
        for r in eval_results or ()
        if r.metric_type == BENCHMARK_METRIC and r.dataset_split == test_split and r.dataset_config
    ]
    return yaml.safe_dump(entries, sort_keys=False, allow_unicode=True) if entries else None


# -- the card ----------------------------------------------------------------------------------------------


def _bands_section(config: Mapping[str, Any]) -> str:
    norm = config["normalization"]
    rows = [
        [
            i,
            f"`{name}`",
            BANDS_BY_NAME[name].unit,
            BANDS_BY_NAME[name].description,
            f"{norm['min'][i]:.6g}" if norm else "-",
            f"{norm['max'][i]:.6g}" if norm else "-",
        ]
        for i, name in enumerate(config["bands"])
    ]
    text = [
        "## Inputs",
        "",
        f"Patches of shape (N, {len(config['bands'])}, H, W) on the 10 m grid, channels first, centred on the pixel "
        f"to classify (centre index H//2, W//2). Trained on {config['patch_size']} x {config['patch_size']} patches; "
        f"any size of at least {config['pool_size']} pixels runs.",
        "",
        table(["#", "band", "unit", "description", "min", "max"], rows),
        "",
    ]
    if norm:
        text.append(
            "Normalisation: every band is mapped to `(x - min) / (max - min)` with the values above "
            "(`predict` / `predict_proba` do this)."
        )
    else:
        text.append(
            "**This model carries no normalisation statistics.** Take them from the built dataset: "
            "`model.with_statistics(DatasetStatistics.load(folder))`, or convert with `--stats DATASET_FOLDER`."
        )
    if config["per_glacier_elevation_scaling"]:
        text.append(
            "\nElevation is first scaled per glacier, `(elevation - glacier_min) / (glacier_max - glacier_min)`; "
            "pass each patch's glacier elevation range as `elevation_range` to `predict`."
        )
    return "\n".join(text) + "\n"


def _classes_section(config: Mapping[str, Any]) -> str:
    rows = [[i, f"`{c}`"] for i, c in enumerate(config["class_names"])]
    return (
        "## Classes\n\n`predict` returns the label code; `predict_proba` one column per label.\n\n"
        + table(["label", "class"], rows)
        + "\n"
    )


def _json_block(data: Mapping[str, Any]) -> str:
    return "```json\n" + json.dumps(data, indent=2) + "\n```\n"


def _training_section(config: Mapping[str, Any]) -> str:
    arch = {k: config[k] for k in ARCHITECTURE_KEYS}
    text = ["## Training data and configuration", ""]
    if config["training"]:
        text += [_json_block(config["training"])]
    else:
        text += ["Not recorded for these weights.", ""]
    text += ["Architecture (`config.json`):", "", _json_block(arch)]
    if config["calibration"]:
        text += [
            f"Probabilities are calibrated with temperature scaling (T = {config['calibration']['temperature']:.4g}).",
            "",
        ]
    if config["provenance"]:
        text += ["### Provenance", "", _json_block(config["provenance"])]
    return "\n".join(text)


def _evaluation_section(eval_results: Sequence[EvalResult] | None) -> str:
    if not eval_results:
        return "## Evaluation\n\nNo evaluation results are recorded with these weights.\n"
    rows = [
        [
            f"`{r.dataset_type}`",
            r.dataset_config or "-",
            r.dataset_split or "-",
            r.metric_name or r.metric_type,
            r.metric_value,
        ]
        for r in eval_results
    ]
    revisions = sorted({r.dataset_revision for r in eval_results if r.dataset_revision})
    revision = (
        f"Dataset revision: {', '.join(f'`{r}`' for r in revisions)}."
        if revisions
        else "Evaluated on a locally built copy of the dataset (no hub revision recorded)."
    )
    return (
        "## Evaluation\n\n"
        + table(["dataset", "labels", "split", "metric", "value"], rows)
        + f"\n\n{revision} Splits are the cross-validation folds; the test fold is the one the model never saw.\n"
    )


def _usage_section(config: Mapping[str, Any], repo_id: str | None) -> str:
    published = (config["provenance"] or {}).get("published_name")
    load = (
        f'model = FaciesCNN.from_published("{published}")  # or FaciesCNN.from_pretrained("{repo_id or "repo-id"}")\n'
        if published
        else f'model = FaciesCNN.from_pretrained("{repo_id or "path/or/repo-id"}")\n'
    )
    statistics = (
        "model = model.with_statistics(DatasetStatistics.load(dataset_folder))  # the normalisation, see Inputs\n"
        if config["normalization"] is None
        else ""
    )
    return (
        "## Usage\n\n```python\nfrom dataset_builder.statistics import DatasetStatistics\n"
        "from modeling import FaciesCNN\n\n"
        + load
        + statistics
        + "probabilities = model.predict_proba(patches)  # raw band values, (N, bands, H, W) -> (N, classes)\n"
        "labels = model.predict(patches)\n```\n"
    )


def render_model_card(
    config: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any],
    links: Mapping[str, str | None],
    eval_results: Sequence[EvalResult] | None = None,
    repo_id: str | None = None,
    dataset_repo_id: str = DATASET_REPO_ID,
) -> str:
    """The Markdown model card with YAML front matter for a FaciesCNN.

    Args:
        config: the model's config as plain data, ``FaciesCNNConfig.to_dict()`` (bands, classes,
            normalisation, provenance, training).
        metadata: card metadata of the model class (``library_name``, ``license``, ``pipeline_tag``, ``tags``).
        links: ``{"code", "paper", "docs"}`` URLs of the model class (None where unknown).
        eval_results: ``huggingface_hub.EvalResult`` entries; written as ``model-index`` metadata and a table.
        repo_id: the hub repository of these weights, for the usage example.
        dataset_repo_id: the hub dataset the model was trained on (``datasets:``).
    """
    datasets = sorted({dataset_repo_id, *(r.dataset_type for r in eval_results or ())})
    card_data = ModelCardData(
        **metadata,
        datasets=datasets,
        metrics=list(METRICS),
        model_name=MODEL_NAME if eval_results else None,
        eval_results=list(eval_results) if eval_results else None,
    )
    link_line = " · ".join(f"[{name}]({url})" for name, url in links.items() if url)
    body = "\n".join(
        [
            f"# {MODEL_NAME}: glacier facies classifier ({len(config['bands'])} bands)",
            "",
            f"PyTorch port of the baseline CNN of *{PAPER_TITLE}* ([code]({UPSTREAM_CODE})). "
            "It classifies the centre pixel of a multispectral patch (Landsat / Sentinel-2 reflectance plus "
            "terrain bands) into glacier facies and miscellaneous classes.",
            "",
            link_line,
            "",
            "## Intended use and limits",
            "",
            "- Mapping end-of-ablation-season glacier facies (ice, snow, firn, debris, refrozen-like) on glaciers "
            "similar to the 31 European glaciers of the benchmark (Alps, Scandinavia, Svalbard, Iceland), and "
            "research on facies-based mass-balance proxies.",
            "- Not validated outside Europe, outside the end of the ablation season, or on other sensors; "
            "water and cloud are the weakest classes; firn/snow and refrozen-like/ice are often confused.",
            "- Inputs must be normalised exactly as in training (see Inputs); otherwise outputs are meaningless.",
            "- Probabilities are temperature-calibrated (see below)."
            if config["calibration"]
            else "- Probabilities are not calibrated (the study found max-softmax confidence over-confident).",
            "",
            _bands_section(config),
            _classes_section(config),
            _training_section(config),
            _evaluation_section(eval_results),
            _usage_section(config, repo_id),
            "## License",
            "",
            f"GPL-2.0, as the authors' code and weights. Dataset: doi:{DATASET_DOI} (hub: `{dataset_repo_id}`).",
            "",
            citation_section(),
        ]
    )
    return render_card(card_data.to_dict(), body)
