"""Reading files from outside within limits: JSON size and depth, Parquet rows and decoded size, CSV rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataset_builder.bounded import json_depth, read_csv, read_json, read_parquet
from dataset_builder.errors import FileFormatError, PredictionsError
from dataset_builder.predictions import read_predictions, write_predictions

ROOT = Path(__file__).resolve().parents[1]


def _repeated(value, rows):
    """A dictionary-encoded text column: ``value`` on every row, stored once."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([value]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 40 + b"]" * 40, "nested deeper than 32 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),  # past the parser's recursion limit
        (b'{"a": NaN}', "not valid JSON .NaN is not standard JSON"),
        (b'{"a": -Infinity}', "Infinity is not standard JSON"),
        (b"9" * 5000, "not valid JSON"),  # beyond Python's limit on digits
        (b'{"a": "\xff"}', "not UTF-8 text .byte 7"),
        (b"{", "not valid JSON"),
        (b" " * 2000, "larger than 1000 bytes"),
    ],
)
def test_json_beyond_the_limits_is_an_error_naming_the_file(tmp_path, data, message):
    path = tmp_path / "x.json"
    path.write_bytes(data)
    with pytest.raises(FileFormatError, match=message) as info:
        read_json(path, max_bytes=1000 if message.startswith("larger") else 1_000_000)
    assert str(info.value).startswith(f"{path}: ")


def test_json_within_the_limits_reads_and_errors_can_be_the_callers(tmp_path):
    path = tmp_path / "x.json"
    value = {"a": [1, {"b": [None, 2.5, "c"]}]}
    path.write_text(json.dumps(value))
    assert read_json(path, max_depth=4) == value and json_depth(value) == 4 and json_depth(3) == 0

    class MyError(FileFormatError):
        pass

    with pytest.raises(MyError, match="nested deeper than 3 levels"):
        read_json(path, max_depth=3, error=MyError)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_parquet_reads_only_the_wanted_columns_expanded(tmp_path):
    path = tmp_path / "t.parquet"
    table = pa.table({"id": _repeated("a", 3), "n": [1, 2, 3], "x": [0.5, 0.25, 0.0], "other": [[1], [2], [3]]})
    pq.write_table(table, path)
    read = read_parquet(path, ["id", "n", "missing"], max_rows=3, max_bytes=1000)
    assert read.column_names == ["id", "n"] and read.column("id").type == pa.string()
    assert read.column("id").to_pylist() == ["a", "a", "a"]
    with pytest.raises(FileFormatError, match=r"t.parquet: column 'other' has type list<"):
        read_parquet(path, ["other"], max_rows=3, max_bytes=1000)
    with pytest.raises(FileFormatError, match=r"t.parquet: 3 rows, more than the 2 allowed"):
        read_parquet(path, ["id"], max_rows=2, max_bytes=1000)
    with pytest.raises(FileFormatError, match=r"decode to more than the 40 bytes allowed"):
        read_parquet(path, ["n", "x"], max_rows=3, max_bytes=40)  # 2 x 3 x 8 bytes, known from the footer
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(FileFormatError, match="bad.parquet: not a readable Parquet file"):
        read_parquet(tmp_path / "bad.parquet", ["id"], max_rows=3, max_bytes=1000)


def test_refusing_a_dictionary_bomb_allocates_little(tmp_path):
    """1 M rows of one 800-character string: a few KB on disk, 804 MB once expanded. The refusal reads the
    dictionary-encoded column only (measured in a fresh process: Arrow's peak allocation)."""
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"sample_id": _repeated("x" * 800, 1_000_000)}), path, compression="zstd")
    assert path.stat().st_size < 200_000
    code = (
        "import pyarrow as pa\n"
        "from dataset_builder.bounded import read_parquet\n"
        "from dataset_builder.errors import FileFormatError\n"
        "try:\n"
        f"    read_parquet({str(path)!r}, ['sample_id'], max_rows=10**7, max_bytes=10**8)\n"
        "except FileFormatError as err:\n"
        "    print(err)\n"
        "print(pa.default_memory_pool().max_memory())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    message, peak = done.stdout.splitlines()
    assert "decode to 804000000 bytes, more than the 100000000 allowed" in message
    assert int(peak) < 32 * 2**20


def test_csv_reads_the_wanted_columns_up_to_max_rows(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"sample_id": ["001", "002"], "pred": [1, 2], "other": ["a", "b"]}).to_csv(path, index=False)
    frame = read_csv(path, ["sample_id", "pred"], max_rows=2, dtype={"sample_id": str})
    assert list(frame.columns) == ["sample_id", "pred"] and frame["sample_id"].tolist() == ["001", "002"]
    with pytest.raises(FileFormatError, match="t.csv: more than the 1 rows allowed"):
        read_csv(path, ["sample_id"], max_rows=1)
    path.write_bytes(b"sample_id,pred\n\xff,1\n")
    with pytest.raises(FileFormatError, match="t.csv: not a readable CSV table"):
        read_csv(path, ["sample_id"], max_rows=5)


def test_a_predictions_file_is_bounded(tmp_path):
    path = tmp_path / "p.parquet"
    write_predictions(path, ["a", "b"], 0, np.full((2, 8), 1 / 8))
    assert len(read_predictions(path)) == 2
    with pytest.raises(PredictionsError, match=r"p.parquet: 2 rows, more than the 1 allowed"):
        read_predictions(path, max_rows=1)
    with pytest.raises(PredictionsError, match=r"p.parquet: columns .* decode to"):
        read_predictions(path, max_bytes=64)
