"""Facies to mass balance: AAR from maps, balance years, scene selection, records, fits, cross-validation, bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio.raw
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from scipy import stats

import modeling.mass_balance as mb
from dataset_builder.outlines import read_outlines
from dataset_builder.schema import CLASS_NAMES
from dataset_builder.synthetic import SyntheticConfig, generate

CODE = {name: i for i, name in enumerate(CLASS_NAMES)}
EPSG = 32632
X0, Y0, PX = 500_000.0, 5_100_000.0, 10.0
SIZE = 20  # px per map side


def write_map(path: Path, codes: np.ndarray, tags: dict[str, str] | None = None) -> Path:
    """``(bands, rows, cols)`` or ``(rows, cols)`` uint8 class codes as a GeoTIFF on the test grid."""
    codes = np.asarray(codes, dtype=np.uint8)
    codes = codes[None] if codes.ndim == 2 else codes
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=codes.shape[2],
        height=codes.shape[1],
        count=codes.shape[0],
        dtype="uint8",
        crs=f"EPSG:{EPSG}",
        transform=from_origin(X0, Y0, PX, PX),
        nodata=255,
    ) as dst:
        dst.write(codes)
        if tags:
            dst.update_tags(**tags)
    return path


def write_outlines(
    path: Path,
    boxes: dict[str, tuple[int, int, int, int]],
    *,
    id_column: str = "glacier",
    wgms: dict[str, int] | None = None,
    names: dict[str, str] | None = None,
    name_column: str = "name",
) -> Path:
    """Pixel boxes (row0, row1, col0, col1; end exclusive) of the test grid as EPSG:4326 polygons."""
    to_lonlat = pyproj.Transformer.from_crs(EPSG, 4326, always_xy=True)
    polygons = []
    for r0, r1, c0, c1 in boxes.values():
        box = shapely.box(X0 + c0 * PX, Y0 - r1 * PX, X0 + c1 * PX, Y0 - r0 * PX)
        polygons.append(shapely.transform(box, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))))
    columns = {id_column: np.array(list(boxes), dtype=object)}
    if wgms:
        columns["wgms_id"] = np.array([wgms[g] for g in boxes], dtype=np.int32)
    if names:
        columns[name_column] = np.array([names[g] for g in boxes], dtype=object)
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(polygons, dtype=object)),
        list(columns.values()),
        list(columns),
        driver="GPKG",
        geometry_type="Polygon",
        crs="EPSG:4326",
    )
    return path


def fill(counts: dict[str, int], shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A ``shape`` block holding exactly ``counts`` pixels of each class, shuffled."""
    values = np.concatenate([np.full(n, CODE[c]) for c, n in counts.items()])
    assert values.size == shape[0] * shape[1]
    return rng.permutation(values).reshape(shape)


# -- balance year, maps -> AAR ---------------------------------------------------------------------------


def test_balance_year_ends_with_the_ablation_season():
    rule = mb.SeasonRule()
    assert rule.balance_year(dt.date(2020, 10, 5)) == 2020  # early-October scene: the ending year
    assert rule.balance_year(dt.date(2020, 11, 2)) == 2021
    assert rule.in_season(dt.date(2020, 8, 1)) and not rule.in_season(dt.date(2020, 6, 30))
    assert mb.SeasonRule(7, 9).balance_year(dt.date(2020, 10, 5)) == 2021
    with pytest.raises(ValueError, match="start_month"):
        mb.SeasonRule(10, 7)


def test_aar_over_observed_area_of_a_multi_glacier_map_and_a_truth_map(tmp_path):
    rng = np.random.default_rng(1)
    outlines = read_outlines(
        write_outlines(tmp_path / "o.gpkg", {"gla-a": (0, 20, 0, 10), "gla-b": (0, 20, 10, 20)}, id_column="GID"),
        id_column="gid",
    )
    a = fill({"snow": 60, "firn": 20, "refrozen-like": 20, "ice": 40, "shadow": 20, "cloud": 40}, (20, 10), rng)
    b = fill({"snow": 10, "ice": 150, "debris": 40}, (20, 10), rng)
    maps = tmp_path / "maps"
    maps.mkdir()
    write_map(
        maps / "two_20190901_facies.tif",
        np.hstack([a, b]),
        {"GLACIERS": "gla-a, gla-b", "DATE": "2019-09-01", "SENSOR": "S2"},
    )
    # a truth map of gla-a: band 1 with clouds, band 2 the surface under them (cloud -> firn, shadow -> snow)
    surface = np.where(a == CODE["cloud"], CODE["firn"], np.where(a == CODE["shadow"], CODE["snow"], a))
    padded = lambda block: np.hstack([block, np.full((20, 10), 255)])  # noqa: E731
    write_map(maps / "gla-a_20200915.tif", np.stack([padded(a), padded(surface)]))
    (maps / "notes.tif").write_bytes(b"not a raster")

    with pytest.warns(mb.MassBalanceWarning, match="notes.tif: not a readable raster"):
        table = mb.aar_from_maps(maps, outlines=outlines).set_index(["glacier", "date"])
    observed = 200 - 60
    row = table.loc[("gla-a", "2019-09-01")]
    assert (row["glacier_px"], row["observed_px"], row["kind"]) == (200, observed, "facies")
    assert row["unobserved_share"] == pytest.approx(60 / 200)
    assert row["aar_snow"] == pytest.approx(60 / observed)
    assert row["aar_snow_firn"] == pytest.approx(80 / observed)
    assert row["aar_snow_firn_refrozen"] == pytest.approx(100 / observed)
    assert table.loc[("gla-b", "2019-09-01"), "aar_snow_firn_refrozen"] == pytest.approx(10 / 200)
    truth = table.loc[("gla-a", "2020-09-15")]
    assert truth["kind"] == "truth" and truth["aar_snow_firn_refrozen"] == pytest.approx(row["aar_snow_firn_refrozen"])

    with pytest.warns(mb.MassBalanceWarning):
        cloud_free = mb.aar_from_maps(maps, outlines=outlines, truth_band=2).set_index(["glacier", "date"])
    assert cloud_free.loc[("gla-a", "2020-09-15"), "unobserved_share"] == 0
    assert cloud_free.loc[("gla-a", "2020-09-15"), "aar_snow_firn_refrozen"] == pytest.approx(160 / 200)


def test_select_end_of_season_latest_or_best_observed():
    rule = mb.SeasonRule()
    dates = ["2005-06-20", "2005-08-10", "2005-09-20", "2005-10-05", "2005-11-02", "2006-09-01"]
    unobserved = [0.0, 0.1, 0.3, 0.7, 0.0, 0.2]
    days = [dt.date.fromisoformat(d) for d in dates]
    scenes = pd.DataFrame(
        {
            "glacier": "g",
            "date": dates,
            "balance_year": [rule.balance_year(d) for d in days],
            "in_season": [rule.in_season(d) for d in days],
            "unobserved_share": unobserved,
        }
    )
    with pytest.warns(mb.MassBalanceWarning) as caught:
        latest = mb.select_end_of_season(scenes, max_unobserved=0.5).set_index("date")["status"]
    messages = " | ".join(str(w.message) for w in caught)
    assert "2 glacier-scene(s) outside the season window" in messages and "g 2005-10-05" in messages
    assert latest["2005-09-20"] == latest["2006-09-01"] == "selected"
    assert latest["2005-08-10"] == "superseded by 2005-09-20"
    assert latest["2005-10-05"].startswith("unobserved share 0.70")
    assert latest["2005-11-02"] == latest["2005-06-20"] == "out of season"  # Nov: balance year 2006, not end of season
    with pytest.warns(mb.MassBalanceWarning):
        best = mb.select_end_of_season(scenes, max_unobserved=0.5, rule="best_observed").set_index("date")["status"]
    assert best["2005-08-10"] == "selected" and best["2005-09-20"] == "superseded by 2005-08-10"


# -- records ---------------------------------------------------------------------------------------------


def test_read_mb_table_units_duplicates_and_bands():
    frame = pd.DataFrame(
        {
            "WGMS_ID": [1, 1, 1, 2, 2, 3, 3],
            "NAME": ["A", "A", "A", "B", "B", "C", "C"],
            "YEAR": [2000, 2000, 2001, 2000, 2000, 2000, 2000],
            "LOWER_BOUND": [9999] * 6 + [1200],
            "UPPER_BOUND": [9999] * 6 + [1300],
            "ANNUAL_BALANCE": [-500, -500, 300, 100, 250, -900, -40],
        }
    )
    with pytest.warns(mb.MassBalanceWarning) as caught:
        table = mb.read_mb_table(frame)
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 elevation-band row(s)" in messages
    assert "duplicate record(s) with identical balances collapsed: wgms 1 2000" in messages
    assert "2 duplicate record(s) with different balances dropped: wgms 2 2000" in messages
    assert sorted(zip(table["wgms_id"], table["year"], table["balance"])) == [
        (1, 2000, -0.5),
        (1, 2001, 0.3),
        (3, 2000, -0.9),
    ]

    in_m = frame.iloc[[2, 5]].assign(ANNUAL_BALANCE=[0.3, -0.9])
    with pytest.raises(mb.MassBalanceInputError, match="looks like m w.e.*--units m"):
        mb.read_mb_table(in_m)
    assert mb.read_mb_table(in_m, units="m")["balance"].tolist() == [0.3, -0.9]
    with pytest.raises(mb.MassBalanceInputError, match="looks like mm w.e. .* but declared m w.e."):
        mb.read_mb_table(frame.iloc[[2, 5]], units="m")
    lower = frame.iloc[[2, 5]].rename(columns=str.lower)  # the lower-case layout: its unit from the values
    for balances, unit in (([300.0, -900.0], "mm"), ([0.3, -0.9], "m")):
        with pytest.warns(mb.MassBalanceWarning, match=f"annual_balance read as {unit} w.e. from its values"):
            table = mb.read_mb_table(lower.assign(annual_balance=balances))
        assert table["balance"].tolist() == [0.3, -0.9] and table.attrs["units"] == unit
    assert mb.read_mb_table(lower.assign(annual_balance=[300.0, -900.0]), units="mm").attrs["units"] == "mm"
    with pytest.raises(mb.MassBalanceInputError, match=r"lacks column\(s\) ANNUAL_BALANCE, WGMS_ID or NAME"):
        mb.read_mb_table(frame[["YEAR"]])


# -- fits and cross-validation ------------------------------------------------------------------------------


def law_table(
    rng: np.random.Generator, slopes: np.ndarray, intercepts: np.ndarray, years: int, noise: float
) -> pd.DataFrame:
    """Glacier-years from balance = intercept_g + slope_g * AAR + N(0, noise) (m w.e.)."""
    rows = []
    for g, (s, b) in enumerate(zip(slopes, intercepts)):
        aar = rng.uniform(0.1, 0.9, years)
        rows.append(
            pd.DataFrame(
                {
                    "glacier": f"g{g}",
                    "year": 2000 + np.arange(years),
                    "aar_snow": aar,
                    "balance": b + s * aar + noise * rng.standard_normal(years),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_fits_recover_a_known_linear_law_within_their_intervals():
    rng = np.random.default_rng(42)
    pooled_table = law_table(rng, np.full(10, 3.0), np.full(10, -1.65), 8, 0.3)
    pooled = mb.fit_pooled(pooled_table, predictor="snow")
    slope, intercept = pooled.slope[mb.ALL_GLACIERS], pooled.intercept[mb.ALL_GLACIERS]
    assert slope.low < 3.0 < slope.high and intercept.low < -1.65 < intercept.high
    reference = stats.linregress(pooled_table["aar_snow"], pooled_table["balance"])
    t = stats.t.ppf(0.975, len(pooled_table) - 2)
    assert slope.value == pytest.approx(reference.slope) and intercept.value == pytest.approx(reference.intercept)
    assert slope.high - slope.value == pytest.approx(t * reference.stderr)
    assert intercept.high - intercept.value == pytest.approx(t * reference.intercept_stderr)

    offsets = -1.65 + 0.2 * rng.standard_normal(10)
    table = law_table(rng, np.full(10, 3.0), offsets, 8, 0.3)
    shared = mb.fit_glacier_specific(table, predictor="snow", shared_slope=True)
    assert shared.slope[mb.ALL_GLACIERS].low < 3.0 < shared.slope[mb.ALL_GLACIERS].high
    covered = [shared.intercept[f"g{g}"].low < b < shared.intercept[f"g{g}"].high for g, b in enumerate(offsets)]
    assert sum(covered) >= 8  # 95 % intervals: 9.5 of 10 expected

    slopes = 3.0 + 0.5 * rng.standard_normal(10)
    separate = mb.fit_glacier_specific(law_table(rng, slopes, offsets, 8, 0.3), predictor="snow")
    assert sum(separate.slope[f"g{g}"].low < s < separate.slope[f"g{g}"].high for g, s in enumerate(slopes)) >= 8


def test_cross_validation_matches_a_hand_loop():
    rng = np.random.default_rng(3)
    table = law_table(rng, np.array([2.5, 3.0, 3.5]), np.array([-1.5, -1.7, -1.6]), 4, 0.2)
    x, y, glacier, year = (
        table["aar_snow"].to_numpy(),
        table["balance"].to_numpy(),
        table["glacier"].to_numpy(),
        table["year"].to_numpy(),
    )

    pooled = np.empty(len(table))
    for g in set(glacier):
        slope, intercept = np.polyfit(x[glacier != g], y[glacier != g], 1)
        pooled[glacier == g] = intercept + slope * x[glacier == g]
    separate = np.empty(len(table))
    for i in range(len(table)):
        train = (glacier == glacier[i]) & (year != year[i])
        slope, intercept = np.polyfit(x[train], y[train], 1)
        separate[i] = intercept + slope * x[i]
    shared = np.empty(len(table))
    for held_out in set(year):
        train = year != held_out
        means = pd.DataFrame({"g": glacier[train], "x": x[train], "y": y[train]}).groupby("g").transform("mean")
        dx, dy = x[train] - means["x"].to_numpy(), y[train] - means["y"].to_numpy()
        slope = np.sum(dx * dy) / np.sum(dx * dx)
        for i in np.flatnonzero(~train):
            rows = train & (glacier == glacier[i])
            shared[i] = y[rows].mean() + slope * (x[i] - x[rows].mean())

    for model, scheme, expected in (
        ("pooled", "leave one glacier out", pooled),
        ("glacier_specific", "leave one year out", separate),
        ("glacier_offsets", "leave one year out", shared),
    ):
        cv = mb.cross_validation(table, model=model, predictor="snow")
        assert cv.scheme == scheme
        np.testing.assert_allclose(cv.predictions["predicted"], expected, rtol=1e-9)
        assert cv.score.r.value == pytest.approx(np.corrcoef(y, expected)[0, 1])
        assert cv.score.rmse.value == pytest.approx(np.sqrt(np.mean((expected - y) ** 2)))
        assert (
            cv.score.r.low < cv.score.r.value < cv.score.r.high
            and cv.score.rmse.low < cv.score.rmse.value < cv.score.rmse.high
        )
    in_sample = mb.score(y, mb.fit_pooled(table, predictor="snow").predict(glacier, x))
    assert in_sample.r.value == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_glacier_lines_are_not_cross_validated_through_two_points():
    rng = np.random.default_rng(8)
    table = law_table(rng, np.full(4, 3.0), np.full(4, -1.6), 3, 0.2)  # three years per glacier: folds of two
    table.loc[table["glacier"] == "g0", "aar_snow"] = [0.5, 0.5001, 0.3]  # two near-equal AARs: a line explodes
    with pytest.warns(mb.MassBalanceWarning, match="leaves out 4 glacier"):
        lines = mb.cross_validation(table, model="glacier_specific", predictor="snow")
    assert lines.predictions.empty and lines.score.n == 0 and np.isnan(lines.score.rmse.value)
    with pytest.warns(mb.MassBalanceWarning, match="leaves out 4 glacier"):
        summary, _ = mb.regress(table, predictor="snow")
    counts = {"glacier_years": len(table), "glaciers": 4, "glacier_scenes": len(table), "records": len(table)}
    text = mb.format_results({"data": counts, "notes": [], "regressions": {"snow": summary}, "generating_model": None})
    assert "glacier_specific leave one year out    n   0  r -  RMSE -" in text  # undefined, not "nan"
    offsets = mb.cross_validation(table, model="glacier_offsets", predictor="snow")  # one shared slope: scored
    assert offsets.score.n == len(table) and offsets.score.rmse.value < 1.0
    # a fourth year makes every fold a line with a residual: all scored
    four = law_table(rng, np.full(4, 3.0), np.full(4, -1.6), 4, 0.2)
    assert mb.cross_validation(four, model="glacier_specific", predictor="snow").score.n == len(four)


# -- the job on maps, with bad input --------------------------------------------------------------------------


GLACIERS = {"gla-a": 101, "gla-b": 102, "gla-c": 103}
BOX = (2, 18, 2, 18)  # each glacier: a 16 x 16 px box on its own map


def write_job_inputs(
    root: Path,
    rng: np.random.Generator,
    years: range,
    slope_mm: float,
    intercept_mm: float,
    glaciers: dict[str, int] = GLACIERS,
    **outline_columns,
) -> pd.DataFrame:
    """Single-glacier facies maps with known AARs and a WGMS-like table from balance = intercept + slope * AAR + noise
    (mm w.e.); ``outline_columns`` override the outlines' (default: id ``glacier``, ``wgms_id``, ``name``)."""
    (root / "maps").mkdir(parents=True)
    columns = dict(wgms=glaciers, names={g: f"Glacier {g[-1].upper()}" for g in glaciers}) | outline_columns
    write_outlines(root / "outlines.gpkg", dict.fromkeys(glaciers, BOX), **columns)
    rows = []
    for glacier, wgms_id in glaciers.items():
        for year in years:
            accumulation = int(rng.integers(30, 220))
            block = fill({"snow": accumulation, "ice": 256 - accumulation}, (16, 16), rng)
            codes = np.full((SIZE, SIZE), 255)
            codes[2:18, 2:18] = block
            write_map(
                root / "maps" / f"{glacier}_{year}0901_facies.tif", codes, {"GLACIER": glacier, "DATE": f"{year}-09-01"}
            )
            balance = intercept_mm + slope_mm * accumulation / 256 + 100 * rng.standard_normal()
            rows.append(
                {
                    "POLITICAL_UNIT": "CH",
                    "NAME": f"GLACIER {glacier[-1].upper()}",
                    "WGMS_ID": wgms_id,
                    "YEAR": year,
                    "ANNUAL_BALANCE": round(balance),
                }
            )
    return pd.DataFrame(rows)


def test_run_recovers_the_law_and_reports_what_it_left_out(tmp_path, script, capsys):
    rng = np.random.default_rng(11)
    records = write_job_inputs(tmp_path, rng, range(2001, 2007), 3000.0, -1650.0)
    extra = pd.DataFrame(
        [
            {"NAME": "NOWHERE GLACIER", "WGMS_ID": 999, "YEAR": 2003, "ANNUAL_BALANCE": -700},  # unknown glacier
            {"NAME": "GLACIER B", "WGMS_ID": 102, "YEAR": 1999, "ANNUAL_BALANCE": -300},
        ]
    )  # year without scene
    by_name = records[records["WGMS_ID"] == 103].assign(WGMS_ID=pd.NA)  # glacier C matched by name
    duplicate = records.iloc[[0]].assign(ANNUAL_BALANCE=records["ANNUAL_BALANCE"].iloc[0] + 400)  # conflicting record
    same_by_name = by_name.iloc[[0]].assign(NAME="GLA-C")  # gla-c 2001 again, by its glacier id as the name
    table = pd.concat(
        [
            records[(records["WGMS_ID"] != 103) & ~((records["WGMS_ID"] == 102) & (records["YEAR"] == 2006))],
            by_name,
            extra,
            duplicate,
            same_by_name,
        ]
    )  # gla-b 2006: a scene without a record
    table.to_csv(tmp_path / "mb.csv", index=False)
    write_map(
        tmp_path / "maps" / "gla-x_20030901_facies.tif",
        np.zeros((SIZE, SIZE)),
        {"GLACIER": "gla-x", "DATE": "2003-09-01"},
    )

    results = mb.run(
        tmp_path / "maps", tmp_path / "mb.csv", tmp_path / "out", outlines=tmp_path / "outlines.gpkg", predictor="snow"
    )
    notes = " | ".join(results["notes"])
    for expected in (
        "unknown glacier 'gla-x'",
        "2 duplicate record(s) with different balances dropped: wgms 101 2001",
        "record(s) of unknown glaciers ignored: wgms 999",
        "1 record(s) in years without a usable scene: gla-b 1999",
        "2 selected scene(s) without a mass-balance record: gla-a 2001, gla-b 2006",
        "identical balances collapsed: glacier gla-c 2001",
    ):
        assert expected in notes
    assert results["data"]["glacier_years"] == 3 * 6 - 2
    pooled = results["regressions"]["snow"]["pooled"]
    slope = pooled["in_sample"]["slope"][mb.ALL_GLACIERS]
    assert slope["low"] < 3.0 < slope["high"]
    assert pooled["cross_validated"]["score"]["n"] == 16
    saved = json.loads((tmp_path / "out" / "mass_balance_results.json").read_text())
    assert saved["regressions"]["snow"]["glacier_offsets"]["in_sample"]["n"] == 16
    status = pd.read_csv(tmp_path / "out" / "aar_scenes.csv").set_index(["glacier", "date"])["status"]
    assert status[("gla-b", "2006-09-01")] == "no record" and status[("gla-c", "2002-09-01")] == "selected"
    assert all(
        (tmp_path / "out" / name).stat().st_size > 0 for name in ("scatter.png", "timeseries.png", "glacier_years.csv")
    )

    records.assign(ANNUAL_BALANCE=records["ANNUAL_BALANCE"] / 1000).to_csv(tmp_path / "mb_m.csv", index=False)
    argv = [
        "--maps",
        str(tmp_path / "maps"),
        "--outlines",
        str(tmp_path / "outlines.gpkg"),
        "--out",
        str(tmp_path / "out_m"),
        "--no-progress",
    ]
    assert script("mass_balance").main([*argv, "--mb", str(tmp_path / "mb_m.csv")]) == 1
    assert "looks like m w.e." in capsys.readouterr().err
    assert script("mass_balance").main([*argv, "--mb", str(tmp_path / "mb_m.csv"), "--units", "m"]) == 0
    assert "note: " in capsys.readouterr().out


# -- end to end on the synthetic benchmark --------------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mb") / "synthetic"
    generate(out, SyntheticConfig.quick(), progress=False)
    return out


@pytest.mark.slow
def test_end_to_end_on_synthetic_truth_maps(benchmark, tmp_path, script):
    metadata = json.loads((benchmark / "metadata.json").read_text())
    truth_aar = {s["scene"]: s["aar"] for s in metadata["scenes"]}
    law = metadata["mass_balance_model"]

    assert (
        script("mass_balance").main(
            ["--benchmark", str(benchmark), "--truth-band", "2", "--out", str(tmp_path / "b2"), "--no-progress"]
        )
        == 0
    )
    scenes = pd.read_csv(tmp_path / "b2" / "aar_scenes.csv")
    np.testing.assert_allclose(
        scenes["aar_snow_firn_refrozen"], scenes["scene"].map(truth_aar), atol=6e-5
    )  # metadata rounds to 4 decimals
    assert (scenes["unobserved_share"] == 0).all()
    years = pd.read_csv(tmp_path / "b2" / "glacier_years.csv")
    assert len(years) == len(metadata["scenes"])
    results = json.loads((tmp_path / "b2" / "mass_balance_results.json").read_text())
    # the fits equal those of the generator's own AARs against its balances (rows in the same order: scene per record)
    oracle = pd.DataFrame(
        {
            "glacier": [s["glacier"] for s in metadata["scenes"]],
            "aar": [s["aar"] for s in metadata["scenes"]],
            "balance": pd.read_csv(benchmark / "mass_balance.csv")["ANNUAL_BALANCE"] / 1000,
        }
    )
    fits = results["regressions"]["snow_firn_refrozen"]
    assert fits["pooled"]["in_sample"]["slope"][mb.ALL_GLACIERS]["value"] == pytest.approx(
        stats.linregress(oracle["aar"], oracle["balance"]).slope, abs=2e-3
    )
    within = oracle[["aar", "balance"]] - oracle.groupby("glacier")[["aar", "balance"]].transform("mean")
    assert fits["glacier_offsets"]["in_sample"]["slope"][mb.ALL_GLACIERS]["value"] == pytest.approx(
        (within["aar"] * within["balance"]).sum() / (within["aar"] ** 2).sum(), abs=2e-3
    )
    generating = results["generating_model"]
    assert (
        generating["slope"] == law["slope_mm_we"] / 1000
        and results["recovery"]["snow_firn_refrozen"]["generating_slope"] == generating["slope"]
    )

    assert (
        script("mass_balance").main(["--benchmark", str(benchmark), "--out", str(tmp_path / "b1"), "--no-progress"])
        == 0
    )
    band1 = json.loads((tmp_path / "b1" / "mass_balance_results.json").read_text())
    assert band1["settings"]["truth_band"] == 1
    assert pd.read_csv(tmp_path / "b1" / "aar_scenes.csv")["unobserved_share"].gt(0).any()
    assert band1["regressions"]["snow_firn_refrozen"]["pooled"]["cross_validated"]["score"]["n"] > 0


# -- WGMS table generations, RGI ids and links -----------------------------------------------------------------


RGI6 = {"RGI60-11.00001": 491, "RGI60-11.00002": 492, "RGI60-11.00003": 493}


def lower_case_fog(records: pd.DataFrame, root: Path, glacier_table: pd.DataFrame) -> Path:
    """The records in the lower-case FoG layout (``data/mass_balance.csv``, balances in m w.e.) with its glacier table."""
    (root / "data").mkdir(parents=True)
    pd.DataFrame(
        {
            "country": "CH",
            "glacier_name": records["NAME"],
            "glacier_id": records["WGMS_ID"],
            "year": records["YEAR"],
            "time_system": "fixed",
            "annual_balance": records["ANNUAL_BALANCE"] / 1000,
            "annual_balance_unc": 0.1,
        }
    ).to_csv(root / "data" / "mass_balance.csv", index=False)
    glacier_table.to_csv(root / "data" / "glacier.csv", index=False)
    return root


def test_both_wgms_generations_link_rgi_glaciers_by_id_and_name(tmp_path, script, capsys):
    rng = np.random.default_rng(21)
    names = {
        "RGI60-11.00001": "Hintereisferner",
        "RGI60-11.00002": "Kesselwandferner",
        "RGI60-11.00003": "Storglaciären",
    }
    records = write_job_inputs(
        tmp_path,
        rng,
        range(2001, 2007),
        3000.0,
        -1650.0,
        RGI6,
        id_column="RGIId",
        wgms=None,
        names=names,
        name_column="Name",
    )
    records["NAME"] = records["WGMS_ID"].map({491: "HINTEREISFERNER", 492: "KESSELWANDFERNER", 493: "STORGLACIAEREN"})
    # the new glacier table lists RGI ids for two glaciers (one cell with two ids); the third links by name
    glacier_table = pd.DataFrame(
        {
            "id": [491, 492, 493],
            "short_name": ["HEF", "KWF", "STG"],
            "rgi60_ids": ["RGI60-11.00001", "RGI60-11.99999;RGI60-11.00002", ""],
            "rgi70_ids": ["", "", ""],
        }
    )
    fog = lower_case_fog(
        records.assign(WGMS_ID=records["WGMS_ID"].where(records["WGMS_ID"] != 493, 999493)),
        tmp_path / "fog",
        glacier_table,
    )
    results = mb.run(tmp_path / "maps", fog, tmp_path / "out", outlines=tmp_path / "outlines.gpkg", predictor="snow")
    assert results["settings"]["table_layout"] == "lower-case" and results["settings"]["input_units"] == "m"
    links = {k["glacier"]: k for k in results["links"]}
    assert (
        links["RGI60-11.00001"]["wgms_id"] == 491
        and "WGMS glacier table glacier.csv (" in links["RGI60-11.00001"]["linked_by"]
    )
    assert links["RGI60-11.00002"]["wgms_id"] == 492 and "glacier.csv" in links["RGI60-11.00002"]["linked_by"]
    assert links["RGI60-11.00003"]["linked_by"] == "name 'STORGLACIAEREN'"  # WGMS transliteration of Storglaciären
    assert results["data"]["glacier_years"] == 18 and all(k["records"] == 6 for k in links.values())
    slope = results["regressions"]["snow"]["pooled"]["in_sample"]["slope"][mb.ALL_GLACIERS]
    assert slope["low"] < 3.0 < slope["high"]
    saved = pd.read_csv(tmp_path / "out" / "glacier_links.csv")
    assert list(saved.columns) == ["glacier", "wgms_id", "name", "linked_by", "records"] and len(saved) == 3

    # the upper-case generation (mm w.e.) with the FoG 2021 lookup table beside it, found without --links
    old = tmp_path / "fog_2021"
    old.mkdir()
    records.to_csv(old / "WGMS-FoG-2021-05-EE-MASS-BALANCE.csv", index=False)
    pd.DataFrame({"WGMS_ID": [491, 492, 493], "RGI60_ID": list(RGI6)}).to_csv(
        old / "WGMS-FoG-2021-05-AA-GLACIER-ID-LUT.csv", index=False
    )
    argv = ["--maps", str(tmp_path / "maps"), "--outlines", str(tmp_path / "outlines.gpkg"), "--no-progress"]
    assert script("mass_balance").main([*argv, "--mb", str(old), "--out", str(tmp_path / "out_old")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("by WGMS glacier table WGMS-FoG-2021-05-AA-GLACIER-ID-LUT.csv (RGI60_ID)") == 3
    saved = json.loads((tmp_path / "out_old" / "mass_balance_results.json").read_text())
    assert saved["settings"]["input_units"] == "mm" and saved["data"]["glacier_years"] == 18


def test_rgi7_outlines_and_a_user_link_table(tmp_path):
    rng = np.random.default_rng(22)
    rgi7 = {f"RGI2000-v7.0-G-11-0000{k}": 500 + k for k in (1, 2, 3)}
    records = write_job_inputs(
        tmp_path, rng, range(2001, 2005), 3000.0, -1650.0, rgi7, id_column="rgi_id", wgms=None, names=None
    )
    records.to_csv(tmp_path / "mb.csv", index=False)
    links = tmp_path / "links.csv"  # two columns, WGMS id first, any header
    pd.DataFrame({"WGMS": [501, 502, 503, 777], "RGI7": [*rgi7, "RGI2000-v7.0-G-11-09999"]}).to_csv(links, index=False)
    with pytest.raises(mb.MassBalanceInputError, match="no glacier-year"):  # nothing links without the table
        mb.run(tmp_path / "maps", tmp_path / "mb.csv", tmp_path / "none", outlines=tmp_path / "outlines.gpkg")
    results = mb.run(
        tmp_path / "maps", tmp_path / "mb.csv", tmp_path / "out", outlines=tmp_path / "outlines.gpkg", links=links
    )
    assert sorted(k["glacier"] for k in results["links"]) == sorted(rgi7)
    assert {k["linked_by"] for k in results["links"]} == {"link table links.csv (RGI7 -> WGMS)"}
    assert results["data"]["glacier_years"] == 12 and results["settings"]["link_table"] == str(links)
    assert read_outlines(tmp_path / "outlines.gpkg").ids == tuple(rgi7)  # rgi_id detected


def test_the_map_folder_of_a_mapping_run_is_read_as_it_is(tmp_path):
    """Beside each facies map lies its confidence map with the same GLACIER/DATE tags: it is passed over."""
    (tmp_path / "maps").mkdir()
    codes = np.full((SIZE, SIZE), CODE["snow"])
    codes[:, :8] = CODE["ice"]
    codes[0, :4] = 254  # unobserved (the product's masks)
    tags = {"GLACIER": "gla-a", "DATE": "2019-09-01", "SENSOR": "S2"}
    write_map(tmp_path / "maps" / "s_facies.tif", codes, tags)
    with rasterio.open(
        tmp_path / "maps" / "s_confidence.tif",
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=1,
        dtype="float32",
        crs=f"EPSG:{EPSG}",
        transform=from_origin(X0, Y0, PX, PX),
    ) as dst:
        dst.write(np.full((1, SIZE, SIZE), 0.9, np.float32))
        dst.update_tags(**tags)
    (tmp_path / "maps" / "s_areas.csv").write_text("scene\n")
    (tmp_path / "maps" / "areas.csv").write_text("scene\n")
    maps = mb.find_maps(tmp_path / "maps")
    assert [m.path.name for m in maps] == ["s_facies.tif"]
    row = mb.aar_from_maps(maps).iloc[0]
    assert row["glacier_px"] == SIZE * SIZE and row["observed_px"] == SIZE * SIZE - 4
    assert row["aar_snow"] == pytest.approx((SIZE * SIZE - SIZE * 8) / (SIZE * SIZE - 4))
    (tmp_path / "maps" / "s_confidence.tif").rename(tmp_path / "maps" / "renamed.tif")
    with pytest.warns(mb.MassBalanceWarning, match="renamed.tif: tagged GLACIER/GLACIERS but holds float32"):
        assert [m.path.name for m in mb.find_maps(tmp_path / "maps")] == ["s_facies.tif"]


def test_non_finite_balances_are_refused_and_odd_ones_reported():
    years = np.arange(2000, 2012)
    frame = pd.DataFrame(
        {
            "WGMS_ID": 7,
            "YEAR": years,
            "ANNUAL_BALANCE": [-620.0, -480, -910, -300, -750, -560, -430, -690, -820, -510, -640, -700],
        }
    )
    with pytest.raises(mb.MassBalanceInputError, match=r"non-finite annual balance in row\(s\) 5\b"):
        mb.read_mb_table(frame.assign(ANNUAL_BALANCE=frame["ANNUAL_BALANCE"].where(frame["YEAR"] != 2003, np.inf)))
    odd = frame.copy()
    odd.loc[4, "ANNUAL_BALANCE"] = -0.75  # a value in m w.e. among mm w.e.
    odd.loc[9, "ANNUAL_BALANCE"] = -9500.0  # far outside the others
    with pytest.warns(mb.MassBalanceWarning) as caught:
        table = mb.read_mb_table(odd)
    messages = " | ".join(str(w.message) for w in caught)
    assert "row 6: annual balance -0.75 mm w.e. looks like m w.e." in messages
    assert "row 11: annual balance -9500 mm w.e. is an outlier" in messages
    assert len(table) == len(frame)  # reported, still used
