"""The model card (``README.md``) of every saved FaciesCNN, rendered from the plain config dict.

``config`` arguments here are ``FaciesCNNConfig.to_dict()`` (the content of ``config.json``): cards never
need the modelling code.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from huggingface_hub import EvalResult, ModelCardData

from dataset_builder.schema import BANDS_BY_NAME
from hub_cards.common import CODE_LICENSE, DATASET_DOI, PAPER_TITLE, UPSTREAM_CODE, citation_section, render_card
from hub_cards.markdown import table

MODEL_NAME = "FaciesCNN"
TAGS = ["glacier-facies", "remote-sensing", "glaciology", "image-classification", "pytorch_model_hub_mixin"]

#: Fields of ``config.json`` shown as the architecture.
ARCHITECTURE_KEYS = ("patch_size", "filters", "depths", "pool_size", "dense_units", "dropout")


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


def _training_section(config: Mapping[str, Any], training: Mapping[str, Any] | None) -> str:
    arch = {k: config[k] for k in ARCHITECTURE_KEYS}
    text = ["## Training data and configuration", ""]
    if training:
        text += [_json_block(training)]
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
        [r.dataset_name, r.dataset_split or "-", r.metric_name or r.metric_type, r.metric_value] for r in eval_results
    ]
    return "## Evaluation\n\n" + table(["dataset", "split", "metric", "value"], rows) + "\n"


def render_model_card(
    config: Mapping[str, Any],
    *,
    eval_results: Sequence[EvalResult] | None = None,
    training: Mapping[str, Any] | None = None,
) -> str:
    """The Markdown model card with YAML front matter for a FaciesCNN.

    Args:
        config: the model's config as plain data, ``FaciesCNNConfig.to_dict()`` (bands, classes,
            normalisation, provenance, training).
        eval_results: ``huggingface_hub.EvalResult`` entries; written as ``model-index`` metadata and a table.
        training: how the weights were trained; default ``config["training"]``.
    """
    training = config["training"] if training is None else training
    card_data = ModelCardData(
        license=CODE_LICENSE,
        library_name="glacier-facies",
        pipeline_tag="image-classification",
        tags=TAGS,
        model_name=MODEL_NAME if eval_results else None,
        eval_results=list(eval_results) if eval_results else None,
    )
    usage = (
        "```python\n"
        "from modeling import FaciesCNN\n\n"
        'model = FaciesCNN.from_pretrained("path/or/repo-id")\n'
        "probabilities = model.predict_proba(patches)  # raw band values, (N, bands, H, W) -> (N, classes)\n"
        "labels = model.predict(patches)\n"
        "```\n"
    )
    body = "\n".join(
        [
            f"# {MODEL_NAME}: glacier facies classifier ({len(config['bands'])} bands)",
            "",
            f"PyTorch port of the baseline CNN of *{PAPER_TITLE}* ([code]({UPSTREAM_CODE})). "
            "It classifies the centre pixel of a multispectral patch (Landsat / Sentinel-2 reflectance plus "
            "terrain bands) into glacier facies and miscellaneous classes.",
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
            _training_section(config, training),
            _evaluation_section(eval_results),
            "## Usage",
            "",
            usage,
            "## License",
            "",
            f"GPL-2.0, as the authors' code and weights. Dataset: doi:{DATASET_DOI}.",
            "",
            citation_section(),
        ]
    )
    return render_card(card_data.to_dict(), body)
