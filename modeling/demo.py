"""The end-to-end demo on the embedded synthetic default data: every job, one command.

Stages, each timed: generate the synthetic benchmark, build the dataset, quick-looks, round-1
cross-validation on the full labels, confident-learning pruning (scored against the known noise),
round-2 cross-validation on the pruned labels, evaluation of both rounds on full and pruned labels,
the non-deep and NDSI-rule baselines, leaderboard submissions, mapping every scene with the round-2
models that never saw their glacier, the realism check (how the authors' published models see this
world, and their whole-scene maps next to ours), the mass-balance regression, and a report (Markdown
and HTML with the figures embedded). Outputs go under one folder (default ``./outputs``), the dataset to
``./glacier-facies`` so that ``load_dataset("glacier-facies", "pruned")`` works from there.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import rasterio
from matplotlib.figure import Figure as PlotFigure
from tqdm.auto import tqdm

from dataset_builder.predictions import Predictions, read_predictions
from dataset_builder.quicklook import colour_class_map, save_figure, true_colour, write_quicklooks
from dataset_builder.schema import BANDS_BY_NAME, CLASS_NAMES, MAP_NODATA
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.synthetic import SyntheticConfig, generate
from dataset_builder.writer import iter_rows
from hub_cards.dataset_folder import build_dataset
from hub_cards.leaderboard import ranked, read_leaderboard
from hub_cards.report import Figure, Report, Section, Table
from modeling.errors import MassBalanceInputError
from modeling.evaluation import (
    PUBLISHED,
    DatasetLabels,
    NDSIRules,
    add_to_leaderboard,
    confusion_matrix,
    dataset_revision,
    evaluate_submission,
    metrics_from_confusion,
    paired_bootstrap,
    write_submission,
)
from modeling.evaluation.realism import DEFAULT_WEIGHTS, RealismReport, check_realism, load_published
from modeling.mapping import MappingOptions, dense_fits, map_scene, predict_array
from modeling.mass_balance import run as run_mass_balance
from modeling.network import FaciesCNN
from modeling.training import OOF_PREDICTIONS, BaselineConfig, TrainConfig, cross_validate, run_two_rounds


@dataclass
class DemoPaths:
    """Where the demo writes: the dataset folder, and one sub-folder of ``outputs`` per job."""

    outputs: Path = Path("outputs")
    dataset: Path = Path("glacier-facies")

    def __post_init__(self) -> None:
        for name in (
            "synthetic",
            "quicklooks",
            "round1",
            "round2",
            "pruning",
            "submissions",
            "maps",
            "realism",
            "mass_balance",
            "report",
        ):
            setattr(self, name, self.outputs / name)


@dataclass
class StageTimer:
    """Prints each stage as it starts and ends, and keeps the seconds each took."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        print(f"== {name}: {self.seconds[name]:.1f} s", flush=True)

    def table(self) -> Table:
        rows = [[name, f"{s:.1f}"] for name, s in self.seconds.items()]
        return Table(["stage", "seconds"], rows + [["total", f"{sum(self.seconds.values()):.1f}"]])

    def format(self) -> str:
        lines = [f"  {name:40s} {s:7.1f} s" for name, s in self.seconds.items()]
        return "\n".join(["stage timings:", *lines, f"  {'total':40s} {sum(self.seconds.values()):7.1f} s"])


@dataclass(frozen=True)
class DemoProfile:
    """Sizes of one demo run."""

    synthetic: SyntheticConfig
    training: TrainConfig
    baseline: BaselineConfig
    n_bootstrap: int
    scenes_to_show: int = 2
    realism_rows: int = 600  # rows the published models run on in the realism check
    realism_stages: tuple[str, ...] = ("after", "before")  # their pruning stages
    weights: Path = DEFAULT_WEIGHTS  # the published weights; the realism section is skipped without them

    @classmethod
    def default(cls) -> "DemoProfile":
        return cls(SyntheticConfig(), TrainConfig.demo(), BaselineConfig(), n_bootstrap=500)

    @classmethod
    def quick(cls) -> "DemoProfile":
        return cls(
            SyntheticConfig.quick(),
            TrainConfig.demo(epochs=10, samples_per_epoch=1024),
            BaselineConfig(max_iter=30),
            n_bootstrap=50,
            realism_rows=300,
            realism_stages=("after",),
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _fixed(value: float | None) -> str:
    """Two decimals, or "-" where undefined (None or NaN: e.g. a cross-validation with nothing to predict)."""
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _score_rows(name: str, metrics: dict[str, Any]) -> list[list[str]]:
    return [
        [
            name,
            config,
            _pct(m["macro_f1"]),
            _pct(m["accuracy"]),
            _pct(m["mean_iou"]),
            f"{_pct(m['glacier_macro_f1']['mean'])} +- {_pct(m['glacier_macro_f1']['std'])}"
            if m.get("glacier_macro_f1")
            else "-",
        ]
        for config, m in metrics.items()
    ]


def _per_class_table(results: dict[str, dict[str, Any]], config: str) -> Table:
    header = ["method", *CLASS_NAMES, "macro-F1"]
    rows = []
    for name, metrics in results.items():
        per = metrics[config]["per_class"]
        rows.append([name, *[_pct((per[c] or {}).get("f1")) for c in CLASS_NAMES], _pct(metrics[config]["macro_f1"])])
    return Table(header, rows, f"per-class F1 (%) on the {config} labels, pooled out of fold")


def paired_comparison(dataset: Path, a: Predictions, b: Predictions, names: tuple[str, str], n_bootstrap: int) -> Table:
    """The macro-F1 difference of two methods' out-of-fold predictions on the same rows, with a paired bootstrap
    interval, on the pruned and on the full labels."""
    labels = DatasetLabels.load(dataset)
    rows = {"pruned": ~labels.label_issue, "full": np.ones(len(labels.label), dtype=bool)}
    preds = [pd.Series(p.pred, index=p.sample_id).reindex(labels.sample_id).to_numpy() for p in (a, b)]
    body = []
    for config, keep in rows.items():
        keep = keep & ~pd.isna(preds[0]) & ~pd.isna(preds[1])
        r = paired_bootstrap(
            labels.label[keep], preds[0][keep].astype(int), preds[1][keep].astype(int), n_bootstrap=n_bootstrap
        )
        low, high = r["interval"] or [float("nan")] * 2
        body.append(
            [
                config,
                str(r["n"]),
                _pct(r["a"]["macro_f1"]),
                _pct(r["b"]["macro_f1"]),
                f"{100 * r['difference']:+.1f}",
                f"[{100 * low:+.1f}, {100 * high:+.1f}]",
            ]
        )
    return Table(
        ["labels", "rows", f"{names[0]} %", f"{names[1]} %", "difference (points)", "95 % paired bootstrap"],
        body,
        f"{names[0]} against {names[1]}: rows resampled jointly ({n_bootstrap} resamples)",
    )


def ndsi_predictions(dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids and NDSI-rule predictions of every row of a built dataset."""
    ids, preds = [], []
    rules = NDSIRules()
    for batch in iter_rows(dataset):
        ids.append(batch.sample_id)
        preds.append(rules.predict(batch.patches))
    return np.concatenate(ids), np.concatenate(preds)


def run_demo(
    paths: DemoPaths = DemoPaths(), profile: DemoProfile | None = None, *, seed: int | None = None
) -> StageTimer:
    """Run every stage of the demo and write the report; returns the stage timings.

    Args:
        paths: where the outputs and the dataset go.
        profile: sizes of the run (default :meth:`DemoProfile.default`; :meth:`DemoProfile.quick` for smoke runs).
        seed: the synthetic benchmark's seed (default: the profile's).
    """
    profile = profile or DemoProfile.default()
    synthetic = profile.synthetic if seed is None else replace(profile.synthetic, seed=seed)
    timer = StageTimer()
    sections: list[Section] = []
    results: dict[str, dict[str, Any]] = {}

    with timer.stage("generate the synthetic benchmark"):
        summary = generate(paths.synthetic, synthetic)
        print(summary.format())
    with timer.stage("build the dataset"):
        build = build_dataset(paths.synthetic / "patches", paths.dataset)
        print(f"{paths.dataset}: {build.num_rows} rows")
    with timer.stage("quick-looks"):
        looks = write_quicklooks(paths.synthetic, paths.quicklooks, summary.counts)
    counts = summary.counts
    sections.append(
        Section(
            "The data",
            [
                f"A seeded synthetic stand-in for the pan-European benchmark: {summary.n_glaciers} glaciers, "
                f"{summary.n_scenes} end-of-season scenes, {summary.n_labels} expert-like point labels with "
                f"{100 * summary.noise_rate:.1f} % of the facies labels deliberately wrong near ambiguous boundaries "
                "(the truth is kept apart, so pruning can be scored). Folds are made of whole glaciers.",
            ],
            [
                Table(
                    ["class", *[f"fold {k}" for k in counts]],
                    [[c, *[str(counts[k][c]) for k in counts]] for c in CLASS_NAMES],
                    "labels per class and fold",
                )
            ],
            [Figure(p, f"quick-look {p.stem}: true colour and facies truth") for p in looks[:2]]
            + [Figure(paths.quicklooks / "class_histogram.png", "labels per class and fold")],
        )
    )

    rounds = run_two_rounds(
        paths.dataset,
        profile.training,
        paths.outputs,
        truth=paths.synthetic / "truth" / "labels.parquet",
        n_bootstrap=profile.n_bootstrap,
        stage=timer.stage,
    )
    pruned, report_files = rounds.pruning, rounds.pruning_report
    results["FaciesCNN round 1 (trained on full)"] = rounds.round1
    results["FaciesCNN round 2 (trained on pruned)"] = rounds.round2
    truth = pruned.truth
    sections.append(
        Section(
            "Label pruning (confident learning)",
            [
                f"cleanlab flagged {pruned.num_flagged} of {pruned.num_rows} labels ({100 * pruned.share:.1f} %; the study pruned "
                "16.45 % of the real labels). Shadow, water and cloud are protected. Against the known injected noise the flags "
                f"have precision {truth['precision']:.2f} and recall {truth['recall']:.2f} "
                f"({truth['wrong_labels']} labels are truly wrong).",
            ],
            [
                Table(
                    ["class", "flagged", "labels", "share %"],
                    [
                        [
                            c,
                            str(pruned.flagged_per_class[c]),
                            str(pruned.rows_per_class[c]),
                            _pct(pruned.flagged_per_class[c] / max(pruned.rows_per_class[c], 1)),
                        ]
                        for c in CLASS_NAMES
                    ],
                )
            ],
            [Figure(p, p.stem.replace("_", " ")) for p in report_files if p.suffix == ".png"],
        )
    )

    with timer.stage("baselines: gradient boosting and NDSI rules"):
        baseline = cross_validate(
            paths.dataset, profile.baseline, paths.outputs / "baseline", n_bootstrap=profile.n_bootstrap
        )
        results["gradient boosting on centre pixel + neighbourhood"] = baseline.metrics
        ids, ndsi = ndsi_predictions(paths.dataset)
    with timer.stage("leaderboard submissions"):
        revision = dataset_revision(paths.dataset)
        common = {"authors": "glacier-facies demo", "dataset_revision": revision, "seeds": [profile.training.seed]}
        cnn_oof = read_predictions(paths.round2 / OOF_PREDICTIONS)
        gb_oof = read_predictions(paths.outputs / "baseline" / OOF_PREDICTIONS)
        n_params = FaciesCNN.from_pretrained(paths.round2 / "fold_0" / "model").parameter_count()
        submissions = {
            "FaciesCNN (our recipe, demo profile)": (
                cnn_oof.sample_id,
                cnn_oof.pred,
                cnn_oof.proba,
                n_params,
                "pruned",
            ),
            "Gradient boosting baseline": (gb_oof.sample_id, gb_oof.pred, gb_oof.proba, None, "pruned"),
            "NDSI threshold rules": (ids, ndsi, None, 0, "full"),
        }
        for method, (sid, pred, proba, params, config) in submissions.items():
            folder = write_submission(
                paths.submissions / method.split(" ")[0].lower(),
                sid,
                pred,
                {**common, "method": method, "dataset_config": config, "num_parameters": params},
                proba=proba,
            )
            add_to_leaderboard(
                paths.dataset, evaluate_submission(folder, paths.dataset, n_bootstrap=profile.n_bootstrap)
            )
        add_to_leaderboard(paths.dataset, PUBLISHED)
        board = ranked(read_leaderboard(paths.dataset)["entries"])
        for e in board:
            print(f"  {e['method']:45s} macro-F1 pruned {_pct(e['scores']['pruned'].get('macro_f1'))}  [{e['kind']}]")
    ece = rounds.round2["pruned"]["calibration"]
    sections.append(
        Section(
            "Classification results",
            [
                "Every figure is pooled over the six test folds (each model scored on a fold never saw it). Round 1 "
                "trains on all labels; round 2 on the pruned labels, as published (82 % vs 74 % macro-F1 on the real data).",
                f"Calibration (temperature scaling on each validation fold), round 2 on pruned labels: expected calibration "
                f"error {ece.get('ece_before', ece['ece']):.3f} before, {ece['ece']:.3f} after (published: 0.116 -> 0.040).",
            ],
            [
                Table(
                    ["method", "labels", "macro-F1 %", "accuracy %", "mean IoU %", "glacier-wise macro-F1 %"],
                    [r for name, m in results.items() for r in _score_rows(name, m)],
                ),
                _per_class_table(results, "pruned"),
                paired_comparison(
                    paths.dataset, cnn_oof, gb_oof, ("FaciesCNN round 2", "gradient boosting"), profile.n_bootstrap
                ),
                Table(
                    ["rank", "method", "macro-F1 pruned %", "macro-F1 full %", "kind"],
                    [
                        [
                            str(i + 1) if e["kind"] == "scored" else "-",
                            e["method"],
                            _pct(e["scores"]["pruned"].get("macro_f1")),
                            _pct(e["scores"].get("full", {}).get("macro_f1")),
                            e["kind"],
                        ]
                        for i, e in enumerate(board)
                    ],
                    "leaderboard",
                ),
            ],
            [
                Figure(paths.round2 / "confusion_pruned.png", "round 2 confusion matrix, pruned labels"),
                Figure(paths.round2 / "reliability_pruned.png", "round 2 reliability diagram"),
                Figure(paths.round1 / "confusion_full.png", "round 1 confusion matrix, full labels"),
                Figure(paths.round2 / "fold_0" / "training_curves.png", "training curves, test fold 0"),
            ],
        )
    )

    with timer.stage("map every scene"):
        mapped = map_demo_scenes(paths)
    sections.append(
        Section(
            "Whole-scene facies maps",
            [
                "Each scene is mapped by the round-2 model whose test fold holds its glacier (so the model never saw it), "
                f"with {mapped[0]['mode']} inference; outputs are Cloud-Optimised GeoTIFFs with colour tables, QGIS styles, a calibrated "
                "confidence map and per-glacier class areas.",
            ],
            [],
            [Figure(m["quicklook"], f"mapped facies, {m['scene']}") for m in mapped[: profile.scenes_to_show]],
        )
    )

    if profile.weights.is_dir():
        with timer.stage("realism: the published models in this world"):
            sections.append(realism_section(paths, profile))
    else:
        sections.append(
            Section(
                "Realism: the published models in this world",
                [f"Skipped: the authors' published weights are not at {profile.weights}."],
            )
        )

    with timer.stage("mass balance from facies"):
        mb = regress_mass_balance(paths, mapped)
    sections.append(mb)
    sections.append(Section("Stage timings", [], [timer.table()]))
    report = Report(
        "Glacier facies: end-to-end demo on the synthetic benchmark",
        "This report was produced by `./run.sh demo`. It builds the dataset from a synthetic stand-in for the "
        "pan-European glacier facies benchmark, trains and cross-validates the published compact CNN, cleans the "
        "labels by confident learning, compares with simpler baselines, maps whole scenes and relates the facies "
        "to glacier mass balance. All numbers refer to the synthetic data, whose truth is known.",
        sections,
    )
    with timer.stage("report"):
        md, page = report.write(paths.report)
    print()
    print(timer.format())
    print(
        "\nwhere everything is:\n"
        f"  report (Markdown, HTML)     : {md}  {page}\n"
        f"  built dataset               : {paths.dataset}   (load_dataset('{paths.dataset}', 'pruned'))\n"
        f"  synthetic sources and truth : {paths.synthetic}\n"
        f"  models and predictions      : {paths.round1}, {paths.round2}\n"
        f"  pruning report              : {paths.pruning}\n"
        f"  maps                        : {paths.maps}\n"
        f"  mass balance                : {paths.mass_balance}"
    )
    return timer


def mapping_options(model: FaciesCNN) -> MappingOptions:
    """Dense inference for full-size (33 px) models; per-patch, exact, for the demo profile's small crops, where
    dense inference departs from per-patch (see :func:`modeling.mapping.scene.map_scene`) and per-patch is cheap."""
    return MappingOptions(mode="dense" if dense_fits(model.config) else "patch")


def map_demo_scenes(paths: DemoPaths, n: int | None = None) -> list[dict[str, Any]]:
    """Map the scenes (all, or the ``n`` least cloudy) with the round-2 model of their glacier's test fold.

    Returns, least cloudy first, each scene's name, inference mode, facies GeoTIFF and quick-look.
    """
    meta = json.loads((paths.synthetic / "metadata.json").read_text())
    fold_of = {g["glacier"]: g["fold"] for g in meta["glaciers"]}
    scenes = sorted(meta["scenes"], key=lambda s: (s["cloud_cover"], s["scene"]))[:n]
    models = {
        f: FaciesCNN.from_pretrained(paths.round2 / f"fold_{f}" / "model")
        for f in sorted({fold_of[s["glacier"]] for s in scenes})
    }
    out = []
    for s in tqdm(scenes, desc="map scenes", unit="scene"):
        model = models[fold_of[s["glacier"]]]
        options = mapping_options(model)
        result = map_scene(
            paths.synthetic / "scenes" / f"{s['scene']}.tif",
            model,
            paths.maps,
            outlines=paths.synthetic / "outlines.gpkg",
            dem=[paths.synthetic / "dems"],
            options=options,
        )
        out.append(
            {
                "scene": result.scene,
                "mode": options.mode,
                "facies": result.outputs["facies"],
                "quicklook": result.outputs["quicklook"],
            }
        )
    return out


def regress_mass_balance(paths: DemoPaths, mapped: list[dict[str, Any]]) -> Section:
    """The AAR-balance regression on the synthetic truth maps and on the mapped facies; a report section."""
    sources = {"truth maps": paths.synthetic / "truth" / "maps", "mapped facies": [m["facies"] for m in mapped]}
    rows, recovered, unusable, generating = [], [], [], None
    for source, maps in sources.items():
        try:
            results = run_mass_balance(
                maps,
                paths.synthetic / "mass_balance.csv",
                paths.mass_balance / source.split(" ")[0],
                outlines=paths.synthetic / "outlines.gpkg",
                metadata=paths.synthetic / "metadata.json",
            )
        except MassBalanceInputError as error:  # e.g. no mapped scene observed enough of its glacier
            unusable.append(f"The {source} gave no usable glacier-year: {error}.")
            continue
        predictor = results["settings"]["predictor"]
        for model, fit in results["regressions"][predictor].items():
            for kind in ("in_sample", "cross_validated"):
                score = fit.get(kind, {}).get("score")
                if score:
                    rows.append(
                        [
                            source,
                            model,
                            kind.replace("_", " "),
                            _fixed(score["r"]["value"]),
                            _fixed(score["rmse"]["value"]),
                            str(score["n"]),
                        ]
                    )
        recovery = (results.get("recovery") or {}).get(predictor) or {}
        if "pooled_slope" in recovery:  # none where too few glacier-years could be observed for a fit
            slope = recovery["pooled_slope"]
            generating = recovery["generating_slope"]
            recovered.append(f"{slope['value']:.2f} [{slope['low']:.2f}, {slope['high']:.2f}] from the {source}")
    text = [
        f"Accumulation-area ratio ({predictor.replace('_', ' + ')}) of each glacier's end-of-season map against its "
        "annual balance, from the synthetic truth maps and from the facies the round-2 models mapped (each scene by the "
        "model that never saw its glacier). Published on real data: r = 0.65, RMSE 0.60 m w.e. pooled; r = 0.79, "
        "RMSE 0.28 m w.e. glacier-specific.",
    ]
    text += unusable
    if recovered:
        text.append(
            f"The generator used {generating:.2f} m w.e. per unit AAR; the pooled fits give "
            + "; ".join(recovered)
            + "."
        )
    return Section(
        "Facies and mass balance",
        text,
        [Table(["maps", "model", "", "r", "RMSE m w.e.", "n"], rows)],
        [
            Figure(paths.mass_balance / "mapped" / "scatter.png", "AAR of the mapped facies against annual balance"),
            Figure(paths.mass_balance / "truth" / "scatter.png", "AAR of the truth maps against annual balance"),
            Figure(paths.mass_balance / "mapped" / "timeseries.png", "per-glacier balance series (mapped facies)"),
        ],
    )


def compare_scene_maps(paths: DemoPaths, weights: Path) -> tuple[dict[str, dict[str, float]], Path]:
    """Map the glacier pixels of every scene from its own 11 bands (dense where the model fits, else per patch) with
    the round-2 model of its glacier's fold and with the published 11-band model of the same fold number (after
    pruning, normalised with the dataset's statistics), and score both against the truth map (what an expert sees).

    Returns:
        ``{"FaciesCNN round 2 (ours)" | "published weights": {"pixels", "accuracy", "macro_f1"}}`` pooled over the
        scenes, and a PNG comparing the two maps on the least cloudy scene.
    """
    meta = json.loads((paths.synthetic / "metadata.json").read_text())
    fold_of = {g["glacier"]: g["fold"] for g in meta["glaciers"]}
    scenes = sorted(meta["scenes"], key=lambda s: (s["cloud_cover"], s["scene"]))
    published = {
        p.fold: p.model
        for p in load_published(weights, DatasetStatistics.load(paths.dataset))
        if p.band_set == "11-band" and p.stage == "after"
    }
    models = {
        "FaciesCNN round 2 (ours)": {
            f: FaciesCNN.from_pretrained(paths.round2 / f"fold_{f}" / "model") for f in published
        },
        "published weights": published,
    }
    confusion = {name: np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64) for name in models}
    shown: dict[str, np.ndarray] = {}
    for s in tqdm(scenes, desc="map scenes, ours and published", unit="scene"):
        with rasterio.open(paths.synthetic / "scenes" / f"{s['scene']}.tif") as src:
            bands, names = src.read(), src.descriptions
        with rasterio.open(paths.synthetic / "truth" / "maps" / f"{s['scene']}.tif") as src:
            truth = src.read(1)
        mask = truth != MAP_NODATA
        maps = {}
        for name, by_fold in models.items():
            model = by_fold[fold_of[s["glacier"]]]
            raw = bands[[names.index(b) for b in model.config.bands]]
            proba = predict_array(model, raw, mask, mode=mapping_options(model).mode)
            maps[name] = np.where(mask, np.nan_to_num(proba).argmax(axis=0), MAP_NODATA).astype(np.uint8)
            confusion[name] += confusion_matrix(truth[mask], maps[name][mask])
        if not shown:
            shown = {"true colour": bands, "truth": truth, **maps, "scene": s["scene"]}
    scores = {}
    for name, cm in confusion.items():
        m = metrics_from_confusion(cm)
        scores[name] = {"pixels": int(cm.sum()), "accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"])}
    fig = PlotFigure(figsize=(16, 4.4), layout="constrained")
    axes = fig.subplots(1, 4)
    axes[0].imshow(true_colour(shown["true colour"]), interpolation="nearest")
    for ax, name in zip(axes[1:], ("truth", *models)):
        ax.imshow(colour_class_map(shown[name]), interpolation="nearest")
    for ax, title in zip(axes, ("true colour", "truth (what an expert sees)", *models)):
        ax.set_title(title, fontsize="small")
        ax.set_axis_off()
    fig.suptitle(f"{shown['scene']}: whole-scene maps from the scene's own bands")
    return scores, save_figure(fig, paths.realism / "scene_maps.png")


def realism_section(paths: DemoPaths, profile: DemoProfile) -> Section:
    """The realism check of the built dataset (:func:`modeling.evaluation.realism.check_realism`) and the published
    models' whole-scene maps next to ours (:func:`compare_scene_maps`), as a report section."""
    report = check_realism(
        paths.dataset,
        profile.weights,
        truth=paths.synthetic / "truth" / "labels.parquet",
        max_rows=profile.realism_rows,
        stages=profile.realism_stages,
    )
    _, plot = report.write(paths.realism)
    scores, maps_png = compare_scene_maps(paths, profile.weights)
    return Section(
        "Realism: the published models in this world",
        realism_paragraphs(report),
        realism_tables(report)
        + [
            Table(
                ["maps of glacier pixels", "pixels", "accuracy %", "macro-F1 %"],
                [[name, str(v["pixels"]), _pct(v["accuracy"]), _pct(v["macro_f1"])] for name, v in scores.items()],
                "every scene mapped from its own bands, against the truth map (shadow and cloud on top)",
            )
        ],
        [
            Figure(plot, "band means implied by the published weights vs this dataset; BN distance; transfer"),
            Figure(maps_png, "a scene mapped by our round-2 model and by the published weights"),
        ],
    )


def realism_paragraphs(report: RealismReport) -> list[str]:
    """What the realism check measures and which band conventions were inferred, with the figures behind them."""
    evidence = report.evidence[0]
    implied = dict(zip(evidence.bands, evidence.implied_mean))
    conventions = ", ".join(
        f"{b} ({BANDS_BY_NAME[b].unit}): {BANDS_BY_NAME[b].description}" for b in evidence.bands[6:]
    )
    return [
        "The authors' published Keras weights carry evidence about the real data: every BatchNorm layer stores the "
        "mean and variance the real training patches produced there. Solving the first layer's linear relation gives "
        "the mean normalised value of each band in the real data; running this dataset through each published model "
        "gives the distance of its statistics to the stored ones at every BN layer; and the published models' "
        f"predictions give their transfer to this world ({report.rows} rows, scored against the labels and the truth).",
        "Band conventions, inferred (they are not documented with the release): from the authors' inference code "
        "(elevation min-max scaled over each glacier's outline, proximity divided by its maximum, before the global "
        "min-max) and from the implied means: shadow_mask "
        f"{implied['shadow_mask']:.2f} (so 1 = sunlit), hillshade {implied['hillshade']:.2f} and tied to slope as "
        f"combined shading is, slope {implied['slope']:.2f} of its maximum (degrees over gentle ice). The bands here: "
        f"{conventions}. README, 'Band conventions', gives the evidence for each.",
    ]


def realism_tables(report: RealismReport) -> list[Table]:
    """Band evidence, BN distances and transfer per model group, as report tables."""
    tables = []
    for e in report.evidence:
        tables.append(
            Table(
                [
                    "band",
                    "implied by the weights",
                    "+- over models",
                    "this dataset",
                    "gap",
                    "variance implied",
                    "variance here",
                    "min..max implied (band units)",
                    "min..max here",
                ],
                [
                    [
                        band,
                        f"{e.implied_mean[i]:.3f}",
                        f"{e.implied_mean_sd[i]:.3f}",
                        f"{e.dataset_mean[i]:.3f}",
                        f"{e.mean_gap[i]:+.3f}",
                        f"{e.implied_variance[i]:.4f}" if e.pinned[i] else "not pinned",
                        f"{e.dataset_variance[i]:.4f}",
                        f"{e.implied_min[i]:.3f}..{e.implied_max[i]:.3f}" if e.pinned[i] else "not pinned",
                        f"{e.dataset_min[i]:.3f}..{e.dataset_max[i]:.3f}",
                    ]
                    for i, band in enumerate(e.bands)
                ],
                f"mean normalised band values, {e.band_set} published models; the implied min..max is the global "
                "min-max that gives this dataset's band, in its own units, the implied mean and variance",
            )
        )
    summary = {k: v for k, v in report.summary().items() if k != "worst_mean_gap"}
    tables.append(
        Table(
            ["models", *report.bn_layers],
            [
                [f"{key}: {stat}", *[f"{v:.2f}" for v in values]]
                for key, s in summary.items()
                for stat, values in (
                    ("|dmu| / sigma", s["bn_mean_sigma"]),
                    ("|log var ratio|", s["bn_log_var"]),
                    ("own |dmu| / sigma", s["bn_own_mean_sigma"]),
                    *(
                        (f"own |dmu| / sigma, {sensor} rows ({report.rows_by_sensor[sensor]})", own)
                        for sensor, own in s["bn_own_by_sensor"].items()
                    ),
                )
            ],
            "distance of this dataset's BN statistics to the stored ones, per layer (mean over the group's models); "
            "own: each layer on its batch's statistics, as in training, so that it inherits nothing from the layers "
            "before it; by sensor: the own distance of that sensor's rows alone",
        )
    )
    rows = []
    for key, s in summary.items():
        band_set, stage = key.rsplit(" ", 1)
        group = report.group(band_set, stage)
        per_class = [
            _pct(np.mean([((t.truth or t.labels)["per_class"][c] or {}).get("f1", 0.0) for t in group]))
            for c in CLASS_NAMES
        ]
        truth = "-" if s["macro_f1_truth"] is None else _pct(s["macro_f1_truth"])
        rows.append([key, str(s["models"]), _pct(s["macro_f1_labels"]), truth, *per_class])
    tables.append(
        Table(
            ["published models", "n", "macro-F1 labels %", "macro-F1 truth %", *CLASS_NAMES],
            rows,
            "the published models on this dataset (per-class F1 against the truth, mean over the group)",
        )
    )
    return tables
