"""The registry of the authors' 18 published models, as torchgeo's ``WeightsEnum`` lists pretrained weights:
for each, its fold, pruning stage, bands, source file and sha256, the normalisation it needs and where that
comes from, the training record and the paper.

The weights are the authors' Keras files (``{fold}_cnn_{before,after}confidentlearning_weights.h5``: 12 models
on all 11 bands, 6 more on the 6 optical bands in ``optical/``), from the release of their code
(``UPSTREAM_CODE``, GPL-2.0). :meth:`modeling.network.FaciesCNN.from_published` converts or loads any of them;
``glacier-facies published`` writes all 18 as hub-ready folders.

**None carries normalisation statistics**: the authors normalise every band with the global min/max of the whole
dataset (their ``globalminmax.pickle``), which is not public. They are recomputed from the patches: pass a built
dataset's statistics (``statistics.json``) as ``statistics=`` / ``--stats``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dataset_builder.files import sha256_file
from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS, cv_split
from hub_cards.common import DATASET_DOI, DATASET_REPO_ID, HUB_NAMESPACE, PAPER_TITLE, PAPER_URL, UPSTREAM_CODE
from modeling.errors import WeightsError

Stage = Literal["before", "after"]
FeatureSet = Literal["all", "optical"]
#: File names of the published weights: ``{fold}_cnn_{before,after}confidentlearning_weights.h5``.
PUBLISHED_FILE_NAME = re.compile(r"^(?P<fold>\d+)_cnn_(?P<stage>before|after)confidentlearning_weights\.h5$")
#: Bands of each feature set, and the subfolder of the release holding its files.
FEATURE_SETS: dict[str, tuple[tuple[str, ...], str]] = {"all": (BAND_NAMES, ""), "optical": (OPTICAL_BANDS, "optical")}
#: Default bands of a Keras file by its number of input channels: all 11, or the 6 optical ones.
DEFAULT_BANDS = {len(bands): bands for bands, _ in FEATURE_SETS.values()}
PAPER = {"title": PAPER_TITLE, "url": PAPER_URL, "code": UPSTREAM_CODE}
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
#: The normalisation every published model needs, and where its statistics come from.
NORMALIZATION_NEEDED = {
    "method": "global per-band min-max over the whole dataset: (x - min) / (max - min)",
    "statistics": "not published (the authors' globalminmax.pickle, read by dataloader.py and apply.py of their "
    "code, is not part of the release)",
    "supply": "recompute from the patches: model.with_statistics(DatasetStatistics.load(DATASET_FOLDER)) "
    "(its statistics.json), FaciesCNN.from_published(name, statistics=...) or --stats DATASET_FOLDER",
}
#: How the authors' apply.py prepares the terrain bands of a whole scene before the global min-max.
SCENE_PREPARATION = {
    "elevation": "min-max scaled per glacier (0 at its lowest, 1 at its highest point)",
    "proximity": "divided by its maximum",
}
#: sha256 of each published file, computed from the files (``sha256sum``); tests/test_published.py recomputes
#: them from ``../shared/upstream/weights``.
PUBLISHED_SHA256 = {
    "0_cnn_afterconfidentlearning_weights.h5": "95abeb4ef21f7e09bd9f7c625669d3170662b1f8a6d9a4c4a529f58385049fff",
    "0_cnn_beforeconfidentlearning_weights.h5": "b520e14a252cad47e0f9b5776e39052d478214e8c96d5b031c9f38f7f1cf7e2f",
    "1_cnn_afterconfidentlearning_weights.h5": "1f3bea2219548981c54c5cf55d61d228990ce56d063e63816c5a4b9b8f016f73",
    "1_cnn_beforeconfidentlearning_weights.h5": "fb4cfefbd98493788fbaaf4c163d9d412f17826b0501134b390bd2452f3870ae",
    "2_cnn_afterconfidentlearning_weights.h5": "54873a5fdbeb9458e1b0b9821095b5e9a55a6825e2262a8ad98e6af9b471e067",
    "2_cnn_beforeconfidentlearning_weights.h5": "12838a02649d7c954951799444bded7969b2e400c000c4a5b6041d1453d81d53",
    "3_cnn_afterconfidentlearning_weights.h5": "8c198b63d7af8c507996bf27c06f337ab2d5be6ee17df9ed4d16491678468786",
    "3_cnn_beforeconfidentlearning_weights.h5": "33b8b3734fad4a9dbee0b962439756cd45227536164a4515a63181e3d88facde",
    "4_cnn_afterconfidentlearning_weights.h5": "162cc5365e843210a068137e720fd013a0ec397240006e7a4a98db1c8cdb64f0",
    "4_cnn_beforeconfidentlearning_weights.h5": "71004529854ea9bc2e72403a2046caeef7dd792dd7119695f8bb7b14d40bd334",
    "5_cnn_afterconfidentlearning_weights.h5": "a6bb0f8e7cb8ab8eac551c981c2d3a17666b6ae38a98969973ab87e2c60e464a",
    "5_cnn_beforeconfidentlearning_weights.h5": "81c12b034e3bf8b2464a20fd580345c9c5ed229fd17c49bd416ad2c986604da4",
    "optical/0_cnn_afterconfidentlearning_weights.h5": "912598f4f43ddc82d8c9b8c20158e612263985344070acc41bc3e5aa8e7cac69",
    "optical/1_cnn_afterconfidentlearning_weights.h5": "0505eaad2a3a23061678bcc6cc80d3a5b8ebce830cc7528daaedae66845e84de",
    "optical/2_cnn_afterconfidentlearning_weights.h5": "f9085e02efd88f46844bf51264fed5085b717c4bb089518c53b1806545695b23",
    "optical/3_cnn_afterconfidentlearning_weights.h5": "39a509ceb3acbb17dc07c3102352ad842abf6662a2bfd12ced2904eb5e88f09b",
    "optical/4_cnn_afterconfidentlearning_weights.h5": "87962b6453f43ccc3b296bbd1c17f6937ca46818ffb128070d8d3d409057d343",
    "optical/5_cnn_afterconfidentlearning_weights.h5": "4d69fed38846996b4099a70d89e8df5b4e6fe784ad81cb2c9ad40d4a2127cf2f",
}


def published_training(fold: int, stage: Stage) -> dict[str, Any]:
    """The training record of the authors' model for test fold ``fold`` before or after label pruning."""
    split = cv_split(fold)
    return {
        "dataset": DATASET_REPO_ID,
        "dataset_doi": DATASET_DOI,
        "labels": "confident-learning pruned labels" if stage == "after" else "all expert labels (before pruning)",
        "test_fold": split.test,
        "validation_fold": split.validation,
        "train_folds": list(split.train),
        **PUBLISHED_RECIPE,
    }


@dataclass(frozen=True)
class PublishedWeights:
    """One published model: the authors' weight file and everything needed to use it."""

    fold: int
    stage: Stage
    feature_set: FeatureSet
    sha256: str

    @property
    def name(self) -> str:
        """Registry name, e.g. ``fold0-after`` (11 bands) or ``optical-fold0-after`` (6 optical bands)."""
        prefix = "" if self.feature_set == "all" else f"{self.feature_set}-"
        return f"{prefix}fold{self.fold}-{self.stage}"

    @property
    def bands(self) -> tuple[str, ...]:
        return FEATURE_SETS[self.feature_set][0]

    @property
    def file(self) -> str:
        """Path of the weight file inside the release's ``weights/`` folder."""
        name = f"{self.fold}_cnn_{self.stage}confidentlearning_weights.h5"
        folder = FEATURE_SETS[self.feature_set][1]
        return f"{folder}/{name}" if folder else name

    @property
    def repo_id(self) -> str:
        """The hub repository the converted model is published to (``HUB_NAMESPACE``, configurable)."""
        return f"{HUB_NAMESPACE}/facies-cnn-{self.name}"

    @property
    def normalization(self) -> dict[str, Any]:
        """The normalisation this model needs: for which bands, how, and where the statistics come from."""
        scene = {b: how for b, how in SCENE_PREPARATION.items() if b in self.bands}
        return {"bands": list(self.bands), **NORMALIZATION_NEEDED, **({"scene_preparation": scene} if scene else {})}

    @property
    def training(self) -> dict[str, Any]:
        return published_training(self.fold, self.stage)

    def provenance(self) -> dict[str, Any]:
        """What a converted model's config records about these weights."""
        return {
            "published_name": self.name,
            "fold": self.fold,
            "confident_learning": self.stage,
            "feature_set": self.feature_set,
            "normalization_needed": self.normalization,
            "paper": PAPER,
        }

    def locate(self, weights_folder: str | Path) -> Path:
        """The file in a local copy of the release's ``weights/`` folder, its sha256 checked.

        Raises:
            FileNotFoundError: when the folder does not hold it.
            WeightsError: when its sha256 is not the published one.
        """
        path = Path(weights_folder) / self.file
        if not path.is_file():
            raise FileNotFoundError(2, f"no {self.file} for published model {self.name}", str(path))
        digest = sha256_file(path)
        if digest != self.sha256:
            raise WeightsError(f"{path}: sha256 {digest} is not the published {self.name} ({self.sha256})")
        return path


def _entry(file: str, sha256: str) -> PublishedWeights:
    folder, _, name = file.rpartition("/")
    match = PUBLISHED_FILE_NAME.match(name)
    feature_set = next(k for k, (_, sub) in FEATURE_SETS.items() if sub == folder)
    return PublishedWeights(int(match["fold"]), match["stage"], feature_set, sha256)


#: The 18 published models by name, in release order.
PUBLISHED: dict[str, PublishedWeights] = {e.name: e for e in (_entry(f, h) for f, h in PUBLISHED_SHA256.items())}
_BY_SHA256 = {e.sha256: e for e in PUBLISHED.values()}


def published_weights(name: str) -> PublishedWeights:
    """The registry entry called ``name`` (see :data:`PUBLISHED`).

    Raises:
        WeightsError: for an unknown name, listing the known ones.
    """
    if name not in PUBLISHED:
        raise WeightsError(f"no published model {name!r}; the published models are {list(PUBLISHED)}")
    return PUBLISHED[name]


def identify(sha256: str) -> PublishedWeights | None:
    """The published model whose file has this sha256, or None."""
    return _BY_SHA256.get(sha256)
