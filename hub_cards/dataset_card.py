"""The dataset card of a built glacier facies dataset (``README.md`` with hub YAML)."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCardData

from dataset_builder.schema import BANDS_BY_NAME, CLASS_NAMES, FACIES_CLASSES, PROTECTED_CLASSES, make_features
from dataset_builder.writer import BuildReport, WrittenDataset, public_text
from hub_cards.common import (
    DATASET_DOI,
    DATASET_LICENSE,
    PAPER_DOI,
    PAPER_TITLE,
    UPSTREAM_CODE,
    citation_section,
    render_card,
)
from hub_cards.leaderboard import render_leaderboard_section
from hub_cards.markdown import table

CONFIG_DESCRIPTIONS = {
    "pruned": "labels cleaned by confident learning: rows flagged as label issues left out (default)",
    "full": "every expert label, including those flagged as label issues",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def card_metadata(written: WrittenDataset, report: BuildReport) -> dict:
    """The YAML front matter: licence, configs with explicit shard lists, and per config the features, split
    sizes, ``download_size`` (Parquet bytes) and ``dataset_size`` (Arrow bytes), written by ``datasets`` itself."""
    stats = written.statistics
    features = make_features(written.bands, stats.dtype, stats.patch_size)
    configs, infos = [], {}
    for config in ("pruned", "full"):
        splits = SplitDict()
        for name in stats.class_counts[config]:
            if written.rows(config, name):
                splits.add(
                    SplitInfo(
                        name=name, num_bytes=written.num_bytes(config, name), num_examples=written.rows(config, name)
                    )
                )
        entry = {"config_name": config, "data_files": [{"split": s, "path": written.files(config, s)} for s in splits]}
        if config == "pruned":
            entry["default"] = True
        configs.append(entry)
        infos[config] = DatasetInfo(
            features=features,
            splits=splits,
            download_size=written.download_size(config),
            dataset_size=sum(split.num_bytes for split in splits.values()),
        )
    dataset_info = DatasetCardData()
    DatasetInfosDict(infos).to_dataset_card_data(dataset_info)
    return {
        "pretty_name": "Glacier facies: pan-European benchmark patches",
        **DATASET_LICENSE,
        "task_categories": ["image-classification"],
        "tags": ["remote-sensing", "glaciology", "glacier-facies", "landsat", "sentinel-2", "geospatial"],
        "size_categories": [_size_category(stats.num_rows)],
        "configs": configs,
        "dataset_info": dataset_info.to_dict()["dataset_info"],
        "glacier_facies": {
            "bands": [{k: getattr(b, k) for k in ("name", "unit", "min", "max", "mean", "std")} for b in stats.bands],
            "normalisation": "global per-band min-max (bands.min, bands.max)",
            "patch_size": stats.patch_size,
            "dtype": stats.dtype,
            "class_counts": stats.class_counts,
            "pruned": bool(report.pruning),
        },
    }


def _class_table(written: WrittenDataset) -> str:
    counts = written.statistics.class_counts
    splits = [s for s in counts["full"] if sum(counts["full"][s].values())]
    rows = [
        [
            code,
            name,
            "facies" if name in FACIES_CLASSES else "miscellaneous",
            *(counts["full"][s][name] for s in splits),
            sum(counts["full"][s][name] for s in splits),
            sum(counts["pruned"][s][name] for s in counts["pruned"]),
        ]
        for code, name in enumerate(CLASS_NAMES)
    ]
    return table(["code", "class", "kind", *splits, "full", "pruned"], rows)


def _band_table(written: WrittenDataset) -> str:
    rows = [
        [i, b.name, b.unit, BANDS_BY_NAME[b.name].description, *(f"{v:.4g}" for v in (b.min, b.max, b.mean, b.std))]
        for i, b in enumerate(written.statistics.bands)
    ]
    return table(["#", "band", "unit", "description", "min", "max", "mean", "std"], rows)


def _configs_table(full_rows: int, pruned_rows: int) -> str:
    return table(
        ["config", "rows", "what it holds"],
        [
            ["`pruned` (default)", pruned_rows, CONFIG_DESCRIPTIONS["pruned"]],
            ["`full`", full_rows, CONFIG_DESCRIPTIONS["full"]],
        ],
    )


def render_dataset_card(written: WrittenDataset, report: BuildReport, folder: Path | None = None) -> str:
    """Render the card: description, class and band tables, configs, splits, statistics, citation.

    With ``folder`` given, the leaderboard kept there (``leaderboard.json``) is rendered too.
    """
    extra_sections = render_leaderboard_section(folder) if folder else ""
    stats = written.statistics
    full_rows = sum(sum(c.values()) for c in stats.class_counts["full"].values())
    pruned_rows = sum(sum(c.values()) for c in stats.class_counts["pruned"].values())
    if report.pruning:
        pruning = (
            f"Confident learning flagged {full_rows - pruned_rows} of {full_rows} labels "
            f"({100 * (full_rows - pruned_rows) / max(full_rows, 1):.2f} %) as label issues; "
            f"`pruned` leaves them out. Method: {report.pruning.get('method', 'see build_report.json')}."
        )
    else:
        pruning = (
            "Pruning has not run on this build: `pruned` and `full` hold the same rows. "
            "Run `scripts/prune.py` with out-of-fold probabilities to fill `label_issue` and `label_quality`."
        )
    skipped = report.skipped.get("total", 0) if report.skipped else 0
    body = f"""
# Glacier facies: pan-European benchmark patches

Labelled {stats.patch_size} x {stats.patch_size} pixel patches (10 m grid) centred on expert point labels of
glacier surface facies, from Landsat and Sentinel-2 scenes at the end of the ablation season, as released with
*{PAPER_TITLE}* (doi:{PAPER_DOI}; data record doi:{DATASET_DOI}). Each row holds one label: the patch with {len(written.bands)} bands
(channels first), the class, the cross-validation fold (split by glacier), the glacier, the acquisition date and
scene, the sensor where known, and the patch-centre coordinates with their CRS.

This build: **{stats.num_rows} rows** from `{public_text(report.source)}` (layout: {report.layout}), patch dtype `{stats.dtype}`
{f"; {skipped} source item(s) skipped as invalid (see build_report.json)" if skipped else ""}.

## Configurations

{_configs_table(full_rows, pruned_rows)}

{pruning}

```python
from datasets import load_dataset
ds = load_dataset("glacier-facies", "pruned")   # splits fold_0 ... fold_5
```

## Splits and the cross-validation protocol

Splits `fold_0` ... `fold_5` are the published cross-validation folds, split by glacier. For test fold *t* the
validation fold is *t-1 (mod 6)* and the other four folds train. Classes {", ".join(PROTECTED_CLASSES)} are assumed
correct and never pruned.

## Classes (label counts per fold)

{_class_table(written)}

## Bands

Statistics over every patch pixel of the dataset (the published model normalises each band with the global
min-max; per-fold figures are in `statistics.json`).

{_band_table(written)}

## Files

`data/fold_k/clean-*.parquet` rows belong to both configs, `data/fold_k/issues-*.parquet` rows (label issues) to
`full` only. `manifest.json` lists every shard with rows, bytes and sha256; `statistics.json` the band statistics
and class counts; `build_report.json` how the folder was built.

{extra_sections.strip()}

## Licence

The data's licence is the one its publisher set on the Zenodo record, https://doi.org/{DATASET_DOI}: this card does
not restate it (the metadata says `license: {DATASET_LICENSE["license"]}` and links the record), so check the record
before you use or redistribute the data. The code that builds this dataset is GPL-2.0 ({UPSTREAM_CODE}).

{citation_section()}
"""
    return render_card(card_metadata(written, report), body)
