"""Confident-learning pruning: flags, re-partition into full/pruned, reports and bad probabilities."""

import json
import threading

import numpy as np
import pandas as pd
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from dataset_builder import pruning
from dataset_builder.errors import PruningInputError
from dataset_builder.locks import LeaderboardBusyError, leaderboard_lock
from dataset_builder.predictions import write_predictions
from dataset_builder.pruning import PruneSettings, find_label_issues, score_against_truth, write_report
from dataset_builder.schema import CLASS_NAMES
from dataset_builder.testing import write_fake_released
from dataset_builder.writer import iter_rows, read_manifest
from hub_cards.dataset_folder import build_dataset, prune_dataset
from hub_cards.leaderboard import write_leaderboard


def _dataset(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=24, seed=2)
    out = tmp_path / "ds"
    build_dataset(tmp_path / "src", out, rows_per_shard=10, row_group_size=4, progress=False)
    rows = pd.concat(t.to_pandas() for t in iter_rows(out, columns=["sample_id", "label", "fold"]))
    return out, rows.reset_index(drop=True)


def _probabilities(rows, wrong, seed=0):
    """Confident, correct probabilities, except for the ``wrong`` rows, confidently another class."""
    rng = np.random.default_rng(seed)
    n = len(rows)
    target = rows["label"].to_numpy().copy()
    target[wrong] = (target[wrong] + 1 + rng.integers(0, 6, len(wrong))) % len(CLASS_NAMES)
    proba = np.full((n, 8), 0.02 / 7)
    proba[np.arange(n), target] = 0.98
    proba += rng.uniform(0, 0.01, proba.shape)
    return proba / proba.sum(axis=1, keepdims=True)


def test_find_label_issues_flags_confident_disagreements_and_protects_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 40)
    proba = np.full((len(labels), 8), 0.01)
    proba[np.arange(len(labels)), labels] = 0.93
    wrong = rng.choice(len(labels), 40, replace=False)
    proba[wrong] = 0.01
    proba[wrong, (labels[wrong] + 1) % 8] = 0.93
    issue, quality = find_label_issues(labels, proba)
    protected = np.isin(labels, [4, 6, 7])
    assert not issue[protected].any()
    expected = np.zeros(len(labels), bool)
    expected[wrong] = True
    np.testing.assert_array_equal(issue, expected & ~protected)
    assert quality[wrong].max() < quality[np.setdiff1d(np.arange(len(labels)), wrong)].min()
    unprotected, _ = find_label_issues(labels, proba, PruneSettings(protected=()))
    np.testing.assert_array_equal(unprotected, expected)


def test_prune_dataset_repartitions_and_updates_card(tmp_path):
    out, rows = _dataset(tmp_path)
    facies = np.flatnonzero(rows["label"].isin([0, 1, 2, 3, 5]))
    wrong = np.random.default_rng(1).choice(facies, 15, replace=False)
    probs = tmp_path / "oof.parquet"
    write_predictions(probs, rows["sample_id"], rows["fold"], _probabilities(rows, wrong))
    result, per_row = prune_dataset(out, [probs], progress=False)
    flagged = set(per_row["sample_id"][per_row["issue"]])
    assert flagged <= set(rows["sample_id"][wrong]) and len(flagged) >= 10
    assert result.num_flagged == len(flagged)

    full, pruned = load_dataset(str(out), "full"), load_dataset(str(out), "pruned")
    full_ids = {sid for split in full.values() for sid in split["sample_id"]}
    pruned_ids = {sid for split in pruned.values() for sid in split["sample_id"]}
    assert full_ids == set(rows["sample_id"]) and pruned_ids == full_ids - flagged
    for split in full.values():
        for row in split:
            assert row["label_issue"] == (row["sample_id"] in flagged)
            assert 0.0 <= row["label_quality"] <= 1.0
    manifest = read_manifest(out)
    issue_shards = [s for s in manifest["shards"] if s["kind"] == "issues"]
    assert sum(s["rows"] for s in issue_shards) == len(flagged)
    assert sum(s["rows"] for s in manifest["shards"]) == len(rows)  # no row duplicated
    card = DatasetCard.load(out / "README.md")
    assert f"flagged {len(flagged)} of 144 labels" in card.text and "confident_learning" in card.text
    report = json.loads((out / "build_report.json").read_text())
    assert report["pruning"]["num_flagged"] == len(flagged)

    # re-pruning with other probabilities starts from the full labels
    write_predictions(probs, rows["sample_id"], rows["fold"], _probabilities(rows, []))
    again, _ = prune_dataset(out, [probs], progress=False)
    assert again.num_flagged == 0
    assert sum(len(s) for s in load_dataset(str(out), "pruned").values()) == len(rows)


def _lock_is_free(folder) -> bool:
    """Whether another thread (the lock is re-entrant within one) gets the leaderboard lock at once."""
    free = []

    def attempt():
        try:
            with leaderboard_lock(folder, timeout=0):
                free.append(True)
        except LeaderboardBusyError:
            free.append(False)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return free[0]


def test_prune_keeps_the_leaderboard_in_the_card_and_holds_its_lock_until_the_swap(tmp_path, monkeypatch):
    out, rows = _dataset(tmp_path)
    entry = {"method": "earlier submission", "kind": "scored", "scores": {"pruned": {"macro_f1": 0.5}}}
    with leaderboard_lock(out):
        write_leaderboard(out, {"schema_version": 1, "entries": [entry]})
    probs = tmp_path / "oof.parquet"
    write_predictions(probs, rows["sample_id"], rows["fold"], _probabilities(rows, [0, 1]))
    seen = []
    write_metadata = pruning.write_metadata

    def watched(folder, *args, **kwargs):  # between the copy of the leaderboard and the swap
        seen.append(_lock_is_free(out))
        write_metadata(folder, *args, **kwargs)

    monkeypatch.setattr(pruning, "write_metadata", watched)
    prune_dataset(out, [probs], progress=False)
    assert seen == [False]  # a submission landing now would wait for the new folder instead of being lost
    assert _lock_is_free(out)
    assert json.loads((out / "leaderboard.json").read_text())["entries"] == [entry]
    assert "earlier submission" in DatasetCard.load(out / "README.md").text


def test_report_and_truth_scoring(tmp_path):
    out, rows = _dataset(tmp_path)
    wrong = np.flatnonzero(rows["label"].isin([0, 1, 2, 3]))[:10]
    probs = tmp_path / "oof.parquet"
    write_predictions(probs, rows["sample_id"], rows["fold"], _probabilities(rows, wrong))
    result, per_row = prune_dataset(out, [probs], progress=False)
    flagged = np.flatnonzero(per_row["issue"])
    unflagged = np.flatnonzero(~per_row["issue"])
    really_wrong = list(flagged[: len(flagged) - 2]) + list(unflagged[:3])  # 2 false alarms, 3 misses
    true_class = [CLASS_NAMES[k] for k in per_row["label"]]
    for i in really_wrong:
        true_class[i] = CLASS_NAMES[(per_row["label"][i] + 1) % 8]
    pd.DataFrame({"sample_id": per_row["sample_id"], "true_class": true_class}).to_parquet(tmp_path / "truth.parquet")
    score = score_against_truth(per_row, tmp_path / "truth.parquet")
    hits = len(flagged) - 2
    assert score["precision"] == pytest.approx(hits / len(flagged))
    assert score["recall"] == pytest.approx(hits / (hits + 3))
    files = write_report(tmp_path / "report", result, per_row, out)
    assert all(f.is_file() and f.stat().st_size > 0 for f in files)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r, p: (r.drop(index=3), p[[i for i in range(len(p)) if i != 3]]), "have no probabilities"),
        (
            lambda r, p: (r.assign(sample_id=r["sample_id"].where(r.index != 5, "ghost")), p),
            "'ghost' is not in the dataset",
        ),
        (lambda r, p: (r.assign(fold=(r["fold"] + (r.index == 7)) % 6), p), "probabilities must be out-of-fold"),
    ],
)
def test_bad_probability_files(tmp_path, mutate, message):
    out, rows = _dataset(tmp_path)
    proba = _probabilities(rows, [])
    bad_rows, bad_proba = mutate(rows.copy(), proba)
    probs = tmp_path / "oof.parquet"
    write_predictions(probs, bad_rows["sample_id"], bad_rows["fold"], bad_proba)
    before = read_manifest(out)
    with pytest.raises(PruningInputError, match=message):
        prune_dataset(out, [probs], progress=False)
    assert read_manifest(out) == before  # dataset untouched


def test_invalid_probabilities_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out, rows = _dataset(tmp_path)
    proba = _probabilities(rows, [])
    proba[4] *= 0.9  # does not sum to one
    table = {"sample_id": rows["sample_id"], "fold": rows["fold"].astype("int8"), "pred": proba.argmax(1)}
    table.update({f"p_{c}": proba[:, k].astype("float32") for k, c in enumerate(CLASS_NAMES)})
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(table), preserve_index=False), tmp_path / "bad.parquet")
    with pytest.raises(PruningInputError, match="row 4.*sum to"):
        prune_dataset(out, [tmp_path / "bad.parquet"], progress=False)


def test_ensemble_of_probability_files_is_averaged(tmp_path):
    out, rows = _dataset(tmp_path)
    facies = np.flatnonzero(rows["label"].isin([0, 1]))
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_predictions(a, rows["sample_id"], rows["fold"], _probabilities(rows, facies[:6]))
    write_predictions(b, rows["sample_id"], rows["fold"], _probabilities(rows, facies[3:9]))
    _, per_row = prune_dataset(out, [a, b], progress=False)
    # only the samples both models doubt stay confidently wrong on average
    assert set(np.flatnonzero(per_row["issue"])) <= set(facies[:9])
