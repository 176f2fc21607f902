"""The dataset command-line jobs: arguments, exit codes and printed summaries."""

import numpy as np
import pandas as pd

from dataset_builder.predictions import write_predictions
from dataset_builder.testing import write_fake_released
from dataset_builder.writer import iter_rows


def test_build_dataset_cli(tmp_path, script, capsys):
    build = script("build_dataset")
    write_fake_released(tmp_path / "src", per_fold=3)
    assert build.main([str(tmp_path / "src"), str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "18 rows" in out and "fold_5=3" in out
    assert build.main([str(tmp_path / "missing"), str(tmp_path / "out2"), "--quiet"]) == 1
    assert "source folder not found" in capsys.readouterr().err


def test_prune_cli(tmp_path, script, capsys):
    write_fake_released(tmp_path / "src", per_fold=10)
    script("build_dataset").main([str(tmp_path / "src"), str(tmp_path / "ds"), "--quiet"])
    rows = pd.concat(t.to_pandas() for t in iter_rows(tmp_path / "ds", columns=["sample_id", "label", "fold"]))
    proba = np.full((len(rows), 8), 0.01)
    proba[np.arange(len(rows)), rows["label"]] = 0.93
    write_predictions(tmp_path / "oof.parquet", rows["sample_id"], rows["fold"], proba)
    prune = script("prune")
    code = prune.main([str(tmp_path / "ds"), "--probs", str(tmp_path / "oof.parquet"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "flagged 0 of 60 labels" in out and (tmp_path / "ds-pruning" / "pruned_share.png").is_file()
    assert prune.main([str(tmp_path / "ds"), "--probs", str(tmp_path / "nope.parquet"), "--quiet"]) == 1
    assert "no predictions file" in capsys.readouterr().err
