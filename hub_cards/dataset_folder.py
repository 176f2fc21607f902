"""Dataset folders finished with their card: the data layer's build, prune and card refresh with
:func:`hub_cards.dataset_card.render_dataset_card` passed down, so ``README.md`` is written inside each atomic swap
(the data layer never imports this package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dataset_builder import builder, pruning, writer
from dataset_builder.pruning import PruneResult, PruneSettings
from dataset_builder.writer import BuildReport
from hub_cards.dataset_card import render_dataset_card
from hub_cards.leaderboard import leaderboard_lock


def build_dataset(source: str | Path, out: str | Path, **options: Any) -> BuildReport:
    """:func:`dataset_builder.builder.build_dataset` (same ``options``) writing the dataset card."""
    return builder.build_dataset(source, out, card=render_dataset_card, **options)


def prune_dataset(
    dataset: str | Path,
    probability_files: Sequence[str | Path],
    settings: PruneSettings = PruneSettings(),
    *,
    progress: bool = True,
) -> tuple[PruneResult, dict[str, np.ndarray]]:
    """:func:`dataset_builder.pruning.prune_dataset` updating the dataset card."""
    return pruning.prune_dataset(dataset, probability_files, settings, progress=progress, card=render_dataset_card)


def refresh_card(folder: str | Path) -> None:
    """Re-render the dataset card of a built folder (after its leaderboard changed, before publishing), holding the
    leaderboard lock so that a card never replaces a newer one rendered from a newer ``leaderboard.json``."""
    with leaderboard_lock(folder):
        writer.refresh_card(folder, render_dataset_card)
