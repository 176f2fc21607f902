"""Write the authors' 18 published models as hub-ready folders, or check a copy of their weight files.

    glacier-facies published WEIGHTS_FOLDER OUT_ROOT [--names NAME ...] [--stats DATASET] [--evaluate DATASET]
    glacier-facies published WEIGHTS_FOLDER --check

WEIGHTS_FOLDER is a local copy of the release's ``weights/`` folder (``{fold}_cnn_{before,after}confidentlearning_
weights.h5`` and ``optical/``); every file's sha256 is checked against the registry
(``modeling.network.published``). Each model goes to ``OUT_ROOT/facies-cnn-<name>`` (weights, config.json, card),
ready for ``glacier-facies push FOLDER <namespace>/facies-cnn-<name>``; the printed lines give folder and repo id.

The published weights carry no normalisation statistics (the authors' are not public): ``--stats`` takes them
from a built dataset. ``--evaluate`` runs each model on its test fold of a built dataset (and takes the
statistics from it unless ``--stats`` is given): its card then holds the scores as ``model-index`` metadata, and
``.eval_results/`` holds the test macro-F1 per label config. Give ``--dataset-revision`` when that dataset is
the hub dataset at a known revision (commit, tag or branch); a hub-cache snapshot is recognised by itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataset_builder.statistics import DatasetStatistics
from hub_cards.model_card import check_hub_revision, eval_results_from_record
from modeling.cli.options import UsageError, int_in
from modeling.network import PUBLISHED, FaciesCNN, published_weights, write_published
from modeling.training import evaluate_model

EVALUATION_DIR = "evaluation"


def hub_revision(text: str) -> str:
    """An argparse type: a hub revision (commit, tag or branch), not a manifest hash."""
    try:
        return check_hub_revision(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", type=Path, help="a local copy of the authors' weights/ folder")
    parser.add_argument("out_root", type=Path, nargs="?", help="parent folder of the model folders")
    parser.add_argument("--check", action="store_true", help="only check every file's sha256 against the registry")
    parser.add_argument("--names", nargs="+", choices=list(PUBLISHED), metavar="NAME", help="models (default: all)")
    parser.add_argument("--stats", type=Path, help="built dataset folder (or statistics.json) for the normalisation")
    parser.add_argument("--evaluate", type=Path, help="built dataset folder: evaluate each model on its test fold")
    parser.add_argument(
        "--dataset-revision", type=hub_revision, help="--evaluate: hub revision of that dataset, for the model-index"
    )
    parser.add_argument("--n-bootstrap", type=int_in(0, 100_000), default=1000, help="--evaluate: bootstrap resamples")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    names = args.names or list(PUBLISHED)
    if args.check:
        for name in names:
            entry = published_weights(name)
            print(f"ok  {name:22s} {entry.locate(args.weights)}  sha256 {entry.sha256}")
        return 0
    if args.out_root is None:
        raise UsageError("OUT_ROOT is required unless --check is given")
    stats_source = args.stats or args.evaluate
    statistics = DatasetStatistics.load(stats_source) if stats_source else None
    eval_results = None
    if args.evaluate:
        eval_results = {}
        for name in names:
            model = FaciesCNN.from_published(name, args.weights, statistics=statistics)
            entry = published_weights(name)
            result = evaluate_model(
                model,
                args.evaluate,
                entry.fold,
                args.out_root / EVALUATION_DIR / name,
                dataset_config="pruned" if entry.stage == "after" else "full",
                method=f"published {name}",
                n_bootstrap=args.n_bootstrap,
                progress=not args.quiet,
            )
            eval_results[name] = eval_results_from_record(
                result.record.to_dict(), dataset_revision=args.dataset_revision
            )
    written = write_published(
        args.weights, args.out_root, names=names, statistics=statistics, eval_results=eval_results
    )
    for name, folder in written.items():
        print(f"{folder}  {published_weights(name).repo_id}")
    return 0
