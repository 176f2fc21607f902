"""Map many scenes on a Dask cluster: a local one by default, an existing one by its scheduler address, or none.

Each scene is one task (:func:`run_job`): the worker loads the model once per process (safetensors
only, cached), maps the scene with :func:`modeling.mapping.scene.map_scene` and returns a small summary.
Scenes whose outputs are already complete (:func:`modeling.mapping.products.is_complete`) are skipped
without starting a cluster; failed tasks are retried (``retries``) and then reported with the scene
and the error, the others go on. Tasks carry only paths and options (no data, no model weights). At the end each
output folder gets one combined area table of all its complete scenes (``areas.csv``, see
:func:`modeling.mapping.products.combine_area_tables`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from distributed import Client, LocalCluster, as_completed

from dataset_builder.statistics import DatasetStatistics
from modeling.errors import SceneInputError
from modeling.mapping.options import MappingOptions
from modeling.mapping.products import combine_area_tables, is_complete
from modeling.mapping.readers import open_scene
from modeling.mapping.scene import map_scene
from modeling.mapping.sources import OpticalScene
from modeling.network import FaciesCNN


@dataclass(frozen=True)
class ModelSpec:
    """Where a worker finds the model: a ``FaciesCNN.from_pretrained`` folder or hub id, and optionally a built
    dataset folder whose statistics give the normalisation (converted weights carry none)."""

    model: str
    statistics: str | None = None


@dataclass(frozen=True)
class SceneJob:
    """One scene to map and everything it needs (paths and options only)."""

    scene: str
    out_dir: str
    outlines: str
    dem: tuple[str, ...] = ()
    options: MappingOptions = MappingOptions()
    id_column: str | None = None
    date: str | None = None
    sensor: str | None = None
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    boa_offset: float | None = None

    def open(self) -> OpticalScene:
        """The scene with this job's overrides (:func:`modeling.mapping.readers.open_scene`)."""
        return open_scene(
            self.scene,
            date=self.date,
            sensor=self.sensor,
            sun_azimuth=self.sun_azimuth,
            sun_elevation=self.sun_elevation,
            boa_offset=self.boa_offset,
        )


@dataclass
class BatchReport:
    """Outcome of :func:`map_many`: scene name -> summary (done), skipped scene names, scene -> error (failed), the
    combined area tables written and the scenes they leave out (area tables of an older layout)."""

    done: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)
    older_tables: list[str] = field(default_factory=list)

    def format(self) -> str:
        """A summary line, then one line per scene: done, skipped or failed (with the error)."""
        lines = [
            f"{len(self.done)} mapped, {len(self.skipped)} skipped (already complete), {len(self.failed)} failed in {self.seconds:.1f} s"
        ]
        lines += [
            f"  done    {s}: {d['classified_pixels']} px of {len(d['glaciers'])} glacier(s) in {d['seconds']:.1f} s"
            for s, d in self.done.items()
        ]
        lines += [f"  skipped {s}" for s in self.skipped]
        lines += [f"  FAILED  {s}: {e}" for s, e in self.failed.items()]
        lines += [f"  areas of all complete scenes: {t}" for t in self.tables]
        if self.older_tables:
            lines.append(
                f"  left out of them (older area-table layout; map again with --overwrite): {', '.join(self.older_tables)}"
            )
        return "\n".join(lines)


@functools.lru_cache(maxsize=2)
def load_model(spec: ModelSpec) -> FaciesCNN:
    """The model of a spec, loaded once per process (eval mode; with the dataset's statistics when given)."""
    model = FaciesCNN.from_pretrained(spec.model)
    if spec.statistics:
        model = model.with_statistics(DatasetStatistics.load(spec.statistics))
    return model.eval()


def run_job(job: SceneJob, spec: ModelSpec, threads: int | None = None) -> dict:
    """Map one scene (runs on a worker); returns a JSON-like summary."""
    if threads:
        torch.set_num_threads(threads)
    result = map_scene(
        job.open(),
        load_model(spec),
        job.out_dir,
        outlines=job.outlines,
        dem=job.dem,
        options=job.options,
        id_column=job.id_column,
        model_name=spec.model,
    )
    return {
        "scene": result.scene,
        "glaciers": list(result.glaciers),
        "classified_pixels": result.classified_pixels,
        "seconds": result.seconds["total"],
        "outputs": {k: str(v) for k, v in result.outputs.items()},
    }


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def map_many(
    jobs: Sequence[SceneJob],
    spec: ModelSpec,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    retries: int = 1,
    overwrite: bool = False,
    runner: Callable[[SceneJob, ModelSpec, int | None], dict] = run_job,
    on_result: Callable[[str, str], None] | None = None,
) -> BatchReport:
    """Map scenes on a Dask cluster.

    Args:
        jobs: the scenes (names must be unique: they name the outputs).
        spec: the model for every scene.
        scheduler: address of an existing scheduler (``tcp://host:8786``); default: a local cluster of
            ``n_workers`` processes with ``threads_per_worker`` threads each (torch uses as many);
            ``n_workers=0``: no cluster, the scenes are mapped one after the other in this process.
        retries: extra attempts of a failed scene before it is reported.
        overwrite: map scenes whose outputs are already complete, too.
        runner: the per-scene task (default :func:`run_job`), called as ``runner(job, spec, threads)``.
        on_result: called with (scene, "done" / "failed" / "skipped") as scenes finish.

    Returns:
        A :class:`BatchReport`; failures (after retries) are in ``failed``, never raised.
    """
    started = time.perf_counter()
    report = BatchReport()
    notify = on_result or (lambda scene, state: None)
    pending: dict[str, SceneJob] = {}
    for job in jobs:
        try:
            name = job.open().scene
        except (SceneInputError, ValueError, OSError) as err:
            report.failed[str(job.scene)] = _describe(err)
            notify(str(job.scene), "failed")
            continue
        if name in pending:
            report.failed[str(job.scene)] = f"scene name {name!r} repeats {pending[name].scene}"
            notify(str(job.scene), "failed")
        elif not overwrite and is_complete(job.out_dir, name):
            report.skipped.append(name)
            notify(name, "skipped")
        else:
            pending[name] = job
    if pending and n_workers == 0 and scheduler is None:
        for name, job in pending.items():
            for _ in range(retries + 1):
                try:
                    report.done[name] = runner(job, spec, None)
                    break
                except Exception as err:  # reported below, like a failed cluster task
                    error = err
            else:
                report.failed[name] = _describe(error)
            notify(name, "done" if name in report.done else "failed")
    elif pending:
        cluster = (
            None
            if scheduler
            else LocalCluster(
                n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True, dashboard_address=":0"
            )
        )
        try:
            with Client(scheduler or cluster) as client:
                futures = {
                    client.submit(
                        runner,
                        job,
                        spec,
                        threads_per_worker,
                        key=f"map-{name}-{time.time_ns()}",
                        retries=retries,
                        pure=False,
                    ): name
                    for name, job in pending.items()
                }
                for future in as_completed(futures):
                    name = futures[future]
                    if future.status == "finished":
                        report.done[name] = future.result()
                        notify(name, "done")
                    else:
                        report.failed[name] = _describe(future.exception())
                        notify(name, "failed")
        finally:
            if cluster is not None:
                cluster.close()
    for out_dir in sorted({job.out_dir for job in jobs}):
        table, older = combine_area_tables(out_dir)
        report.tables += [str(table)] if table else []
        report.older_tables += older
    report.seconds = time.perf_counter() - started
    return report
