"""Submissions: validation against the dataset, scoring from predictions, the ranked leaderboard."""

import json
import multiprocessing as mp
import re
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from dataset_builder.errors import FileFormatError
from dataset_builder.locks import LOCK_FILE, LeaderboardBusyError, leaderboard_lock
from dataset_builder.schema import CAST_SHADOW, CLASS_NAMES, PATCH_SIZE, SUNLIT
from hub_cards.dataset_folder import refresh_card
from hub_cards.leaderboard import LEADERBOARD_FILE, read_leaderboard
from hub_cards.markdown import http_url
from modeling.errors import SubmissionError
from modeling.evaluation import (
    PUBLISHED,
    DatasetLabels,
    NDSIRules,
    add_to_leaderboard,
    classification_report,
    evaluate_submission,
    write_submission,
)
from modeling.hub import push_folder

META = {
    "method": "My CNN",
    "authors": "A. Glaciologist",
    "dataset_config": "pruned",
    "dataset_revision": "sha256:x",
    "code": "https://example.org/code",
    "num_parameters": 1234,
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def dataset(fake_dataset):
    return fake_dataset(per_fold=10, seed=3)


def _labels(dataset):
    return DatasetLabels.load(dataset)


def test_scores_are_computed_from_the_predictions(dataset, tmp_path):
    labels = _labels(dataset)
    rng = np.random.default_rng(0)
    pred = labels.label.copy()
    flip = rng.choice(len(pred), 12, replace=False)
    pred[flip] = (pred[flip] + 1) % 8
    order = rng.permutation(len(pred))  # row order of a submission does not matter
    write_submission(tmp_path / "sub", labels.sample_id[order], pred[order], META)
    entry = evaluate_submission(tmp_path / "sub", dataset, n_bootstrap=50)
    expected = classification_report(labels.label, pred, glaciers=labels.glacier, n_bootstrap=0)
    assert entry.scores["full"]["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert entry.scores["pruned"]["accuracy"] == pytest.approx(1 - 12 / len(pred))
    lo, hi = entry.scores["pruned"]["macro_f1_ci"]
    assert lo <= entry.scores["pruned"]["macro_f1"] <= hi
    assert entry.scored_revision.startswith("sha256:") and entry.method == "My CNN"


def test_leaderboard_ranks_replaces_and_renders(dataset, tmp_path):
    labels = _labels(dataset)
    good, bad = labels.label.copy(), labels.label.copy()
    bad[: len(bad) // 2] = 0
    write_submission(tmp_path / "good", labels.sample_id, good, {**META, "method": "good"})
    write_submission(tmp_path / "bad", labels.sample_id, bad, {**META, "method": "bad"})
    for name in ("bad", "good"):
        add_to_leaderboard(dataset, evaluate_submission(tmp_path / name, dataset, n_bootstrap=20))
    add_to_leaderboard(dataset, PUBLISHED)
    card = DatasetCard.load(dataset / "README.md").text
    table = card[card.index("| rank |") :]
    assert (
        table.index("| 1 | [good](https://example.org/code)")
        < table.index("| 2 | [bad]")
        < table.index("reported (not")
    )
    assert "Benchmark protocol" in card
    # re-submitting the same method replaces its row
    write_submission(tmp_path / "bad", labels.sample_id, good, {**META, "method": "bad"})
    add_to_leaderboard(dataset, evaluate_submission(tmp_path / "bad", dataset, n_bootstrap=20))
    entries = read_leaderboard(dataset)["entries"]
    assert [e["method"] for e in entries].count("bad") == 1 and len(entries) == 3
    assert next(e for e in entries if e["method"] == "bad")["scores"]["full"]["macro_f1"] == 1.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, m: (t.iloc[1:], m), "have no prediction"),
        (lambda t, m: (pd.concat([t.iloc[:-1], t.iloc[:1]]), m), "appears more than once"),
        (lambda t, m: (pd.concat([t, t.iloc[:1]]), m), r"\d+ rows, more than the \d+ allowed"),
        (
            lambda t, m: (t.assign(sample_id=t["sample_id"].where(t.index != 4, "nobody")), m),
            "row 4: sample_id 'nobody' is not in the dataset",
        ),
        (
            lambda t, m: (t.assign(pred=[CLASS_NAMES[p] if i != 2 else "slush" for i, p in enumerate(t["pred"])]), m),
            "row 2: unknown class 'slush'",
        ),
        (lambda t, m: (t.assign(pred=t["pred"].where(t.index != 3, 9)), m), "row 3: class code 9"),
        (lambda t, m: (t, {**m, "method": "../../etc/passwd"}), "method"),
        (lambda t, m: (t, {**m, "macro_f1": 0.99}), "scores are computed here"),
        (lambda t, m: (t, {k: v for k, v in m.items() if k != "authors"}), r"missing field\(s\) \['authors'\]"),
        (lambda t, m: (t, {**m, "code": "javascript:alert(1)"}), "http"),
        (lambda t, m: (t, {**m, "code": "http://github.com@evil.example/x"}), "without spaces or credentials"),
        (lambda t, m: (t, {**m, "paper": "https:///no-host"}), "paper must be an http"),
        (lambda t, m: (t, {**m, "code": "data:text/html,<script>"}), "code must be an http"),
    ],
)
def test_malformed_submissions_are_refused(dataset, tmp_path, edit, message):
    labels = _labels(dataset)
    table = pd.DataFrame({"sample_id": labels.sample_id.astype(str), "pred": labels.label})
    table, meta = edit(table.reset_index(drop=True), dict(META))
    folder = tmp_path / "sub"
    folder.mkdir()
    table.to_parquet(folder / "predictions.parquet", index=False)
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(SubmissionError, match=message):
        evaluate_submission(folder, dataset, n_bootstrap=0)


def test_probabilities_must_be_distributions(dataset, tmp_path):
    labels = _labels(dataset)
    proba = np.eye(8)[labels.label]
    proba[5] = 0.2
    write_submission(tmp_path / "sub", labels.sample_id, labels.label, META, proba=proba)
    with pytest.raises(SubmissionError, match="row 5: probabilities"):
        evaluate_submission(tmp_path / "sub", dataset, n_bootstrap=0)
    csv = tmp_path / "csv"
    csv.mkdir()
    pd.DataFrame({"sample_id": labels.sample_id, "pred": [CLASS_NAMES[line] for line in labels.label]}).to_csv(
        csv / "predictions.csv", index=False
    )
    (csv / "metadata.json").write_text(json.dumps(META))
    assert evaluate_submission(csv, dataset, n_bootstrap=0).scores["full"]["macro_f1"] == 1.0


def test_ndsi_rules_on_signature_pixels():
    signatures = {  # class signatures published by Maslov et al. (hub_cards.common.PAPER_TITLE), blue..swir2
        "snow": (0.90, 0.88, 0.85, 0.75, 0.10, 0.06),
        "firn": (0.65, 0.62, 0.58, 0.50, 0.06, 0.04),
        "refrozen-like": (0.55, 0.52, 0.48, 0.35, 0.04, 0.03),
        "ice": (0.45, 0.42, 0.37, 0.22, 0.03, 0.02),
        "debris": (0.10, 0.12, 0.14, 0.18, 0.22, 0.18),
        "water": (0.12, 0.15, 0.12, 0.05, 0.01, 0.01),
        "cloud": (0.75, 0.74, 0.73, 0.72, 0.50, 0.35),
    }
    patches = np.zeros((len(signatures) + 1, 11, PATCH_SIZE, PATCH_SIZE), np.float32)
    patches[:, 8] = SUNLIT  # shadow_mask: 1 = sunlit (the released data's polarity)
    for i, values in enumerate(signatures.values()):
        patches[i, :6] = np.array(values)[:, None, None]
    patches[-1, :6] = np.array(signatures["ice"])[:, None, None] * 0.2
    patches[-1, 8] = CAST_SHADOW
    codes = NDSIRules().predict(patches)
    assert [CLASS_NAMES[c] for c in codes] == [*signatures, "shadow"]
    with pytest.raises(ValueError, match="optical bands"):
        NDSIRules().predict(patches[:, 6:], bands=("elevation", "slope", "shadow_mask", "hillshade", "proximity"))


def test_submit_cli(dataset, tmp_path, script, capsys):
    labels = _labels(dataset)
    write_submission(tmp_path / "sub", labels.sample_id, labels.label, {**META, "method": "cli method"})
    submit = script("submit")
    assert submit.main([str(tmp_path / "sub"), "--dataset", str(dataset), "--bootstrap", "10"]) == 0
    assert submit.main(["--reported", "--dataset", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "cli method" in out and "[reported]" in out
    (tmp_path / "sub" / "metadata.json").write_text("{")
    assert submit.main([str(tmp_path / "sub"), "--dataset", str(dataset)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_evaluate_cli_scores_a_submission(dataset, tmp_path, script, capsys):
    labels = _labels(dataset)
    rng = np.random.default_rng(1)
    pred = labels.label.copy()
    pred[:5] = (pred[:5] + 3) % 8
    proba = np.full((len(pred), 8), 0.02)
    proba[np.arange(len(pred)), pred] = 0.86
    write_submission(tmp_path / "sub", labels.sample_id, pred, META, proba=proba)
    evaluate = script("evaluate")
    out = tmp_path / "out"
    assert (
        evaluate.main([str(dataset), "--submission", str(tmp_path / "sub"), "--out", str(out), "--n-bootstrap", "10"])
        == 0
    )
    record = json.loads((out / "results.json").read_text())
    expected = classification_report(labels.label, pred, glaciers=labels.glacier, n_bootstrap=0)
    assert record["method"] == "My CNN" and record["seeds"] == [0, 1]
    assert record["metrics"]["full"]["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert record["metrics"]["full"]["calibration"]["ece"] > 0
    assert (out / "confusion_pruned.png").is_file() and (out / "reliability_full.png").is_file()
    # the leaderboard's scores are the same computation
    entry = evaluate_submission(tmp_path / "sub", dataset, n_bootstrap=10)
    assert entry.scores["pruned"]["macro_f1"] == pytest.approx(record["metrics"]["pruned"]["macro_f1"])
    # a malformed submission is refused with the row named, and nothing is scored
    frame = pd.read_parquet(tmp_path / "sub" / "predictions.parquet")
    frame.loc[rng.integers(len(frame)), "pred"] = 11
    frame.to_parquet(tmp_path / "sub" / "predictions.parquet")
    assert evaluate.main([str(dataset), "--submission", str(tmp_path / "sub"), "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert "predictions.parquet: row" in err and not (tmp_path / "out2" / "results.json").exists()


# -- one writer at a time ---------------------------------------------------------------------------------------------

needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs the fork start method")


def _copy(dataset, tmp_path):
    shutil.copytree(dataset, tmp_path / "ds")
    return tmp_path / "ds"


def _add_after(barrier, dataset, method):
    barrier.wait(timeout=60)
    add_to_leaderboard(dataset, {**PUBLISHED, "method": method})


def _card_methods(dataset):
    """The method cell of every leaderboard row of the card."""
    card = (dataset / "README.md").read_text()
    section = card[card.index("| rank |") :].split("\n\n")[0].splitlines()[2:]
    return {re.split(r"(?<!\\)\|", row)[2].strip() for row in section}


@needs_fork
def test_concurrent_submissions_keep_every_entry_and_the_card_agrees(dataset, tmp_path):
    """Six processes add an entry at the same moment, three times over: before the lock, entries were lost (every
    process exiting 0) and the card could show another set than leaderboard.json."""
    ds = _copy(dataset, tmp_path)
    context = mp.get_context("fork")
    for round_ in range(3):
        (ds / LEADERBOARD_FILE).unlink(missing_ok=True)
        methods = {f"round {round_} process {i}" for i in range(6)}
        barrier = context.Barrier(len(methods))
        processes = [context.Process(target=_add_after, args=(barrier, ds, m)) for m in sorted(methods)]
        for p in processes:
            p.start()
        for p in processes:
            p.join(timeout=120)
        assert [p.exitcode for p in processes] == [0] * len(methods)
        assert {e["method"] for e in read_leaderboard(ds)["entries"]} == methods
        assert _card_methods(ds) == methods
    assert (ds / LOCK_FILE).is_file()
    assert LOCK_FILE not in {path for path, _ in push_folder(ds, "me/glacier-facies", dry_run=True).files}


def _hold_lock(dataset, held, release):
    with leaderboard_lock(dataset):
        held.set()
        release.wait(timeout=60)


@needs_fork
def test_a_held_lock_times_out_with_an_error_naming_it(dataset, tmp_path):
    ds = _copy(dataset, tmp_path)
    context = mp.get_context("fork")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(ds, held, release))
    holder.start()
    try:
        assert held.wait(timeout=60)
        with pytest.raises(LeaderboardBusyError, match=r"\.leaderboard\.lock: another process held"):
            with leaderboard_lock(ds, timeout=0.3):
                pass
    finally:
        release.set()
        holder.join(timeout=60)
    with leaderboard_lock(ds, timeout=10), leaderboard_lock(ds, timeout=0):  # free again, and re-entrant
        pass


# -- bounded reading --------------------------------------------------------------------------------------------------


def _submission(folder, table, meta=META):
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps(meta))
    if isinstance(table, pd.DataFrame):
        table.to_csv(folder / "predictions.csv", index=False)
    else:
        pq.write_table(table, folder / "predictions.parquet", compression="zstd")
    return folder


def _repeated(value, rows):
    """A dictionary-encoded text column: ``value`` on every row, stored once."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([value]))


def test_a_parquet_bomb_is_refused_from_its_footer(dataset, tmp_path):
    """A few hundred KB of dictionary-encoded Parquet used to expand to GBs before any check: too many rows, or rows
    whose text decodes far beyond what a submission needs."""
    labels = _labels(dataset)
    n = len(labels.sample_id)
    rows = _repeated(labels.sample_id[0], 2_000_000)
    many = _submission(tmp_path / "many", pa.table({"sample_id": rows, "pred": _repeated("ice", 2_000_000)}))
    assert (many / "predictions.parquet").stat().st_size < 1_000_000
    with pytest.raises(SubmissionError, match=rf"predictions.parquet: 2000000 rows, more than the {n} allowed"):
        evaluate_submission(many, dataset, n_bootstrap=0)
    wide = pa.table({"sample_id": _repeated("x" * 2_000_000, n), "pred": pa.array(labels.label)})
    wide = _submission(tmp_path / "wide", wide)
    assert (wide / "predictions.parquet").stat().st_size < 100_000
    with pytest.raises(SubmissionError, match=r"predictions.parquet: columns \['sample_id', 'pred'\] decode to more"):
        evaluate_submission(wide, dataset, n_bootstrap=0)


def test_a_csv_submission_is_bounded_by_rows(dataset, tmp_path):
    labels = _labels(dataset)
    n = len(labels.sample_id)
    table = pd.DataFrame({"sample_id": np.resize(labels.sample_id, 100 * n), "pred": 0})
    folder = _submission(tmp_path / "sub", table)
    with pytest.raises(SubmissionError, match=rf"predictions.csv: more than the {n} rows allowed"):
        evaluate_submission(folder, dataset, n_bootstrap=0)


# -- corrupt files ----------------------------------------------------------------------------------------------------

ENTRY = {"method": "x", "kind": "scored", "scores": {"pruned": {"macro_f1": 0.5}}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("\xff", "not UTF-8 text"),
        ("[]", "not a leaderboard"),
        ('{"schema_version": 2, "entries": []}', "leaderboard schema version 2, expected 1"),
        (json.dumps({"schema_version": 1, "entries": [1]}), "entry 0: not an object"),
        (json.dumps({"schema_version": 1, "entries": [{**ENTRY, "kind": "guessed"}]}), "entry 0: kind must be"),
        (json.dumps({"schema_version": 1, "entries": [ENTRY, {**ENTRY, "method": "a\nb"}]}), "entry 1: method"),
        (
            json.dumps({"schema_version": 1, "entries": [{**ENTRY, "scores": {"pruned": {"macro_f1": "99"}}}]}),
            r"entry 0: scores.pruned.macro_f1 must be a number",
        ),
        ('{"schema_version": 1, "entries": [{"scores": {"pruned": {"macro_f1": NaN}}}]}', "NaN is not standard JSON"),
        ("[" * 5000 + "]" * 5000, "nested deeper than 32 levels"),
    ],
)
def test_a_corrupt_leaderboard_is_an_error_naming_it(tmp_path, text, message):
    (tmp_path / LEADERBOARD_FILE).write_text(text, encoding="latin-1" if text == "\xff" else "utf-8")
    with pytest.raises(FileFormatError, match=message) as info:
        read_leaderboard(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / LEADERBOARD_FILE}: ")


# -- links and names rendered into the card ---------------------------------------------------------------------------

HOSTILE_LINK = "https://example.org/a)![x](https://tracker.example/pixel.png)"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://example.org/code", "https://example.org/code"),
        ("https://example.org/a_(b)?q=1&r=[2]#top", "https://example.org/a_%28b%29?q=1&r=%5B2%5D#top"),
        (HOSTILE_LINK, "https://example.org/a%29%21%5Bx%5D%28https://tracker.example/pixel.png%29"),
        ("https://example.org/a|b", "https://example.org/a%7Cb"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt://example.org/%0aalert(1)", None),
        ("data:text/html,x", None),
        ("//example.org/x", None),
        ("https:///x", None),
        ("http://user@example.org/", None),
        ("https://exa mple.org/", None),
        ("https://example.org:99999/", None),
        (42, None),
    ],
)
def test_links_are_parsed_as_http_urls(url, target):
    assert http_url(url) == target


def test_links_and_names_from_the_file_render_as_text_or_safe_links(dataset, tmp_path):
    """A code link with ``)``, ``[`` and ``!`` used to render as a link plus a remote tracking image, a
    ``javascript:`` link as a link, and a ``|`` broke the table; now links are encoded or dropped, text escaped."""
    ds = _copy(dataset, tmp_path)
    scores = {"pruned": {"macro_f1": 0.5, "macro_f1_ci": [0.4, 0.6]}, "full": {"macro_f1": 0.4}}
    entries = [
        {"method": "tracked", "kind": "scored", "scores": scores, "code": HOSTILE_LINK},
        {"method": "scripted", "kind": "scored", "scores": scores, "code": "javascript:alert(document.cookie)"},
        {"method": "a | b ![i](https://tracker.example/i.png) <img src=x>", "kind": "reported", "scores": scores},
    ]
    (ds / LEADERBOARD_FILE).write_text(json.dumps({"schema_version": 1, "entries": entries}))
    refresh_card(ds)
    card = (ds / "README.md").read_text()
    section = card[card.index("| rank |") :].split("\n\n")[0]
    assert "javascript:" not in section and "![" not in section and not re.search(r"(?<!\\)<", section)
    assert "tracker.example/pixel.png)" not in section
    assert "[tracked](https://example.org/a%29%21%5Bx%5D%28https://tracker.example/pixel.png%29)" in section
    assert "| scripted |" in section
    assert "a &#124; b \\!\\[i\\](https://tracker.example/i.png) \\<img src=x\\>" in section
    for row in section.splitlines():
        assert len(re.split(r"(?<!\\)\|", row)) == 10, row  # 8 cells and the two borders


def test_a_submitted_link_with_markdown_in_it_renders_encoded(dataset, tmp_path):
    ds = _copy(dataset, tmp_path)
    labels = _labels(ds)
    write_submission(tmp_path / "sub", labels.sample_id, labels.label, {**META, "code": HOSTILE_LINK})
    add_to_leaderboard(ds, evaluate_submission(tmp_path / "sub", ds, n_bootstrap=0))
    card = (ds / "README.md").read_text()
    assert "[My CNN](https://example.org/a%29%21%5Bx%5D%28https://tracker.example/pixel.png%29)" in card
    assert "![" not in card[card.index("| rank |") :]
