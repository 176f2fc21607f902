"""Submissions: validation against the dataset, scoring from predictions, the ranked leaderboard."""

import json

import numpy as np
import pandas as pd
import pytest
from huggingface_hub import DatasetCard

from dataset_builder.schema import CAST_SHADOW, CLASS_NAMES, PATCH_SIZE, SUNLIT
from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset
from hub_cards.leaderboard import read_leaderboard
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
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    write_fake_released(root / "src", per_fold=10, seed=3)
    build_dataset(root / "src", root / "ds", progress=False)
    return root / "ds"


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
        (lambda t, m: (pd.concat([t, t.iloc[:1]]), m), "appears more than once"),
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
