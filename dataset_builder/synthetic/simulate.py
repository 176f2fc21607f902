"""The simulation, scene by scene in a fixed random order, and the plausibility of a benchmark without writing it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from dataset_builder.schema import CLASS_NAMES
from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.labels import (
    SCARCE_BELOW_PX,
    SceneLabels,
    carry_over,
    sample_labels,
    scene_class_shares,
)
from dataset_builder.synthetic.mass_balance import annual_balance
from dataset_builder.synthetic.plan import GlacierPlan, ScenePlan, plan_benchmark
from dataset_builder.synthetic.plausibility import PlausibilityReport
from dataset_builder.synthetic.scene import SceneArrays, render_scene
from dataset_builder.synthetic.tables import BenchmarkTables
from dataset_builder.synthetic.terrain import Terrain


@dataclass
class SimulatedScene:
    """One scene of the benchmark: its plan, its glacier, what it shows, its labels and its glacier-year balance."""

    scene: ScenePlan
    glacier: GlacierPlan
    arrays: SceneArrays
    labels: SceneLabels
    balance: float  # annual balance of the glacier in the scene's year, mm w.e.


@dataclass
class Simulation:
    """A planned benchmark: glaciers with their terrain and scenes (:func:`.plan.plan_benchmark`)."""

    config: SyntheticConfig
    glaciers: list[GlacierPlan]
    terrains: list[Terrain]
    scenes: list[ScenePlan]

    @classmethod
    def plan(cls, config: SyntheticConfig) -> Simulation:
        return cls(config, *plan_benchmark(config))

    def run(self, progress: bool = False) -> Iterator[SimulatedScene]:
        """Render the scenes in plan order, each from its own seed: the scene, then its labels, then the balance."""
        by_id = {g.glacier: (g, t) for g, t in zip(self.glaciers, self.terrains)}
        shares = scene_class_shares(self.scenes)
        seeds = np.random.SeedSequence([self.config.seed, 1]).spawn(len(self.scenes))
        scarce = np.isin(CLASS_NAMES, list(SCARCE_BELOW_PX))
        owed = np.zeros(len(CLASS_NAMES))  # labels of the scarce classes that earlier scenes could not place
        for scene, seed, share in zip(tqdm(self.scenes, desc="scenes", disable=not progress), seeds, shares):
            glacier, terrain = by_id[scene.glacier]
            rng = np.random.default_rng(seed)
            arrays = render_scene(rng, terrain, glacier, scene)
            share = carry_over(share, owed, scene.n_labels)
            labels = sample_labels(rng, arrays.label_map, scene.n_labels, share, self.config)
            placed = np.bincount(labels.true_code, minlength=len(CLASS_NAMES))
            owed = np.where(scarce, np.maximum(share * scene.n_labels - placed, 0.0), 0.0)
            balance = annual_balance(rng, self.config, arrays.aar, glacier.aar0)
            yield SimulatedScene(scene, glacier, arrays, labels, balance)


def simulate_plausibility(config: SyntheticConfig) -> PlausibilityReport:
    """The plausibility report :func:`.writing.generate` gives for ``config``, simulated in memory without writing
    anything (about a third of the time)."""
    simulation = Simulation.plan(config)
    tables = BenchmarkTables()
    for s in simulation.run():
        tables.add(config, s.glacier, s.scene, s.arrays, s.labels, s.balance)
    labels = tables.labels()
    return tables.plausibility(tables.metadata(config, simulation.glaciers, labels), labels)
