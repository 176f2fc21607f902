"""Hub-ready FaciesCNN folders from the authors' Keras weight files: one file, every file under a folder, or the
18 published models (:mod:`modeling.network.published`) with their hub repository ids and complete cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from huggingface_hub import EvalResult

from dataset_builder.statistics import DatasetStatistics
from modeling.network.facies_cnn import FaciesCNN
from modeling.network.published import PUBLISHED, published_weights


def convert_keras_weights(path: str | Path, out_dir: str | Path, **kwargs: Any) -> FaciesCNN:
    """Convert one Keras weight file into a ``from_pretrained`` folder (weights, config, card).

    ``kwargs`` go to :meth:`FaciesCNN.from_keras`.
    """
    model = FaciesCNN.from_keras(path, **kwargs)
    model.save_pretrained(out_dir)
    return model


def convert_folder(folder: str | Path, out_root: str | Path, **kwargs: Any) -> list[Path]:
    """Convert every ``*.h5`` under ``folder`` (recursively) to ``out_root/<relative folder>/<file stem>``.

    Returns:
        The output folders, in sorted order of the source files.
    """
    folder, out_root = Path(folder), Path(out_root)
    sources = sorted(folder.rglob("*.h5"))
    if not sources:
        raise FileNotFoundError(2, "no .h5 weight files", str(folder))
    outputs = []
    for source in sources:
        rel = source.relative_to(folder)
        out = out_root / rel.parent / rel.stem
        convert_keras_weights(source, out, **kwargs)
        outputs.append(out)
    return outputs


def published_folder(out_root: str | Path, name: str) -> Path:
    """Where :func:`write_published` puts model ``name``: ``out_root/<name of its hub repository>``."""
    return Path(out_root) / published_weights(name).repo_id.split("/")[-1]


def write_published(
    weights_folder: str | Path,
    out_root: str | Path,
    *,
    names: Iterable[str] | None = None,
    statistics: DatasetStatistics | None = None,
    eval_results: Mapping[str, Sequence[EvalResult]] | None = None,
) -> dict[str, Path]:
    """Write published models (default: all 18) as hub-ready folders, each ready for ``glacier-facies push
    FOLDER REPO_ID`` with ``REPO_ID`` = its registry ``repo_id``.

    Args:
        weights_folder: a local copy of the release's ``weights/`` folder; every file's sha256 is checked.
        out_root: parent of the model folders (see :func:`published_folder`).
        names: registry names to write.
        statistics: a built dataset's statistics, for the normalisation (the published weights carry none).
        eval_results: per name, evaluation results for its card (``model-index``) and ``.eval_results``.

    Returns:
        The folder of each written model, by name.
    """
    written = {}
    for name in names or PUBLISHED:
        model = FaciesCNN.from_published(name, weights_folder, statistics=statistics)
        out = published_folder(out_root, name)
        card = {"repo_id": published_weights(name).repo_id, "eval_results": (eval_results or {}).get(name)}
        model.save_pretrained(out, model_card_kwargs=card)
        written[name] = out
    return written
