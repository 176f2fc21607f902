"""The end-to-end demo on a tiny synthetic benchmark: every stage runs and the report holds what it says."""

from dataclasses import replace

import pytest

from dataset_builder.synthetic import SyntheticConfig
from hub_cards.leaderboard import read_leaderboard
from modeling import demo
from modeling.demo import DemoPaths, DemoProfile, run_demo
from modeling.errors import MassBalanceInputError
from modeling.training import BaselineConfig


@pytest.fixture
def tiny_profile() -> DemoProfile:
    quick = DemoProfile.quick()
    return DemoProfile(
        replace(SyntheticConfig.quick(), n_glaciers=6, scenes_per_glacier=2, scene_size=132, n_labels=360),
        replace(
            quick.training,
            epochs=1,
            samples_per_epoch=128,
            batch_size=32,
            threads=1,
            model={"filters": (8, 8), "dense_units": (8,)},
        ),
        BaselineConfig(max_iter=5),
        n_bootstrap=10,
        realism_rows=40,
        realism_stages=("after",),
    )


def test_demo_runs_every_stage(tmp_path, tiny_profile):
    paths = DemoPaths(outputs=tmp_path / "outputs", dataset=tmp_path / "glacier-facies")
    timer = run_demo(paths, tiny_profile)
    stages = list(timer.seconds)
    assert stages[0] == "generate the synthetic benchmark" and stages[-1] == "report"
    assert "map every scene" in stages and "mass balance from facies" in stages
    methods = {e["method"] for e in read_leaderboard(paths.dataset)["entries"]}
    assert {"Gradient boosting baseline", "NDSI threshold rules"} <= methods and len(methods) == 4
    report = (paths.report / "report.md").read_text()
    for heading in (
        "The data",
        "Label pruning",
        "Classification results",
        "Whole-scene facies maps",
        "Facies and mass balance",
    ):
        assert f"## {heading}" in report
    assert "data:image/png;base64," in (paths.report / "report.html").read_text()
    assert len(list(paths.maps.glob("*_facies.tif"))) == 6 * 2  # every scene, each by its glacier's fold model
    assert "| mapped facies |" in report and "| truth maps |" in report
    assert "95 % paired bootstrap" in report
    if tiny_profile.weights.is_dir():  # the realism check needs the published weights beside the repository
        assert "## Realism: the published models in this world" in report and "| published weights |" in report
        assert (paths.realism / "realism.json").is_file() and (paths.realism / "scene_maps.png").is_file()


@pytest.mark.parametrize("unrecovered", [None, {"aar": {"generating_slope": 3.0}}])
def test_mass_balance_section_when_one_source_has_no_recovery(tmp_path, monkeypatch, unrecovered):
    """A source without a generating model (recovery None), or too few observed glacier-years for a fit, is reported
    without it; the other's recovery stays."""
    score = {"r": {"value": 0.9}, "rmse": {"value": 0.3}, "n": 12}
    recovery = {"aar": {"pooled_slope": {"value": 3.1, "low": 2.5, "high": 3.6}, "generating_slope": 3.0}}
    answers = iter([recovery, unrecovered])  # truth maps recover the slope, the mapped facies have none (or no fit)

    def fake_run(maps, table, out, **kwargs):
        return {
            "settings": {"predictor": "aar"},
            "regressions": {"aar": {"pooled": {"cross_validated": {"score": score}}}},
            "recovery": next(answers),
        }

    monkeypatch.setattr(demo, "run_mass_balance", fake_run)
    section = demo.regress_mass_balance(DemoPaths(outputs=tmp_path), [{"facies": tmp_path / "a_facies.tif"}])
    text = " ".join(section.paragraphs)
    assert "The generator used 3.00 m w.e. per unit AAR" in text and "3.10 [2.50, 3.60] from the truth maps" in text
    assert "from the mapped facies" not in text


def test_mass_balance_section_when_no_mapped_scene_is_usable(tmp_path, monkeypatch):
    """Mapped facies without a usable glacier-year (every scene unobservable) are reported as such; the truth stays."""
    score = {"r": {"value": 0.9}, "rmse": {"value": 0.3}, "n": 12}

    def fake_run(maps, table, out, **kwargs):
        if isinstance(maps, list):
            raise MassBalanceInputError("no glacier-year has both a usable scene and a mass-balance record")
        return {
            "settings": {"predictor": "aar"},
            "regressions": {"aar": {"pooled": {"cross_validated": {"score": score}}}},
            "recovery": None,
        }

    monkeypatch.setattr(demo, "run_mass_balance", fake_run)
    section = demo.regress_mass_balance(DemoPaths(outputs=tmp_path), [{"facies": tmp_path / "a_facies.tif"}])
    assert "The mapped facies gave no usable glacier-year" in " ".join(section.paragraphs)
    assert [row[0] for row in section.tables[0].rows] == ["truth maps"]
