"""Reading files from outside within limits, checked before anything large is decoded.

- :func:`read_json`: at most ``max_bytes`` bytes of UTF-8, at most ``max_depth`` levels of nesting, standard JSON
  only (no ``NaN`` or ``Infinity``).
- :func:`read_parquet`: the row count, and the decoded size of the wanted columns' numbers and pages, come from the
  Parquet footer before any page is read; text columns are read dictionary-encoded, and their decoded size is
  checked before they are expanded. Columns that are not wanted are never read.
- :func:`read_csv`: at most ``max_rows`` rows of the wanted columns (a CSV file decodes to about its own size,
  which callers bound).

Every refusal raises ``error`` (default :class:`~dataset_builder.errors.FileFormatError`) with a message that
names the file. OS errors (a missing or unreadable file) propagate as they are: they name the file themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataset_builder.errors import FileFormatError, GlacierFaciesError

DEFAULT_MAX_JSON_BYTES = 16 * 2**20
DEFAULT_MAX_DEPTH = 32
#: Bytes of one offset per row that an expanded text column holds besides its characters.
OFFSET_BYTES = 4
ErrorType = Callable[[str], GlacierFaciesError]


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not standard JSON")


def json_depth(value: Any) -> int:
    """Levels of nesting of a parsed JSON value (a scalar 0, ``[]`` or ``{}`` 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_json(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    error: ErrorType = FileFormatError,
) -> Any:
    """The JSON value in ``path``, refused (``error`` naming the file) when larger than ``max_bytes``, not UTF-8,
    not standard JSON, or nested deeper than ``max_depth``. Reads at most ``max_bytes + 1`` bytes."""
    return parse_json(read_bytes(path, max_bytes=max_bytes, error=error), path, max_depth=max_depth, error=error)


def read_bytes(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES, error: ErrorType = FileFormatError
) -> bytes:
    """The bytes of ``path``, refused (``error`` naming the file) when larger than ``max_bytes``."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{path}: larger than {max_bytes} bytes")
    return data


def parse_json(
    data: bytes, where: str | Path, *, max_depth: int = DEFAULT_MAX_DEPTH, error: ErrorType = FileFormatError
) -> Any:
    """The JSON value in ``data`` (read from ``where``, which messages name): UTF-8, standard JSON, at most
    ``max_depth`` levels deep."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{where}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise error(f"{where}: nested deeper than {max_depth} levels") from None
    except ValueError as err:  # json.JSONDecodeError, NaN or Infinity, an integer beyond Python's digit limit
        raise error(f"{where}: not valid JSON ({err})") from None
    if json_depth(value) > max_depth:
        raise error(f"{where}: nested deeper than {max_depth} levels")
    return value


def _values(column_type: pa.DataType) -> pa.DataType:
    return column_type.value_type if pa.types.is_dictionary(column_type) else column_type


def _is_text(column_type: pa.DataType) -> bool:
    value = _values(column_type)
    return pa.types.is_string(value) or pa.types.is_large_string(value) or pa.types.is_binary(value)


def _number_width(column_type: pa.DataType) -> int | None:
    """Bytes per row of a column of numbers (a dictionary of numbers: its values); None for anything else."""
    value = _values(column_type)
    if pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_boolean(value):
        return max(value.bit_width // 8, 1)
    return None


def _text_bytes(column: pa.ChunkedArray) -> int:
    """Bytes a dictionary-encoded text column takes once expanded: every row's characters and offset."""
    total = len(column) * OFFSET_BYTES
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            lengths = pc.take(pc.binary_length(chunk.dictionary), chunk.indices)
        else:
            lengths = pc.binary_length(chunk)
        total += pc.sum(lengths).as_py() or 0
    return total


def read_parquet(
    path: str | Path, columns: Sequence[str], *, max_rows: int, max_bytes: int, error: ErrorType = FileFormatError
) -> pa.Table:
    """The ``columns`` that the Parquet file ``path`` holds (the others are never read), text columns expanded.

    Refused with ``error`` naming the file: a file that is not Parquet, more than ``max_rows`` rows, a wanted column
    that is neither numbers nor text, or wanted columns that decode to more than ``max_bytes`` (numbers: rows times
    width, from the footer; text: its pages from the footer, then its exact expanded size before expanding).
    """
    path = Path(path)
    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowException as err:
        raise error(f"{path}: not a readable Parquet file ({err})") from None
    meta, schema = parquet.metadata, parquet.schema_arrow
    if meta.num_rows > max_rows:
        raise error(f"{path}: {meta.num_rows} rows, more than the {max_rows} allowed")
    wanted = [name for name in columns if name in schema.names]
    numbers, text = 0, []
    for name in wanted:
        column_type = schema.field(name).type
        width = _number_width(column_type)
        if _is_text(column_type):
            text.append(name)
        elif width is None:
            raise error(f"{path}: column {name!r} has type {column_type}; expected numbers or text")
        else:
            numbers += width * meta.num_rows
    leaf = {parquet.schema.column(i).path: i for i in range(meta.num_columns)}
    pages = sum(
        meta.row_group(g).column(leaf[name]).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for name in text
    )
    if numbers + pages > max_bytes:
        raise error(f"{path}: columns {wanted} decode to more than the {max_bytes} bytes allowed")
    try:
        table = pq.ParquetFile(path, read_dictionary=text).read(columns=wanted)
    except pa.ArrowException as err:
        raise error(f"{path}: not a readable Parquet file ({err})") from None
    decoded = numbers + sum(_text_bytes(table.column(name)) for name in text)
    if decoded > max_bytes:
        raise error(f"{path}: columns {wanted} decode to {decoded} bytes, more than the {max_bytes} allowed")
    for name in wanted:
        column_type = table.schema.field(name).type
        if pa.types.is_dictionary(column_type):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, table.column(name).cast(column_type.value_type))
    return table


def read_csv(
    path: str | Path,
    columns: Sequence[str],
    *,
    max_rows: int,
    dtype: dict[str, Any] | None = None,
    error: ErrorType = FileFormatError,
) -> pd.DataFrame:
    """The ``columns`` that the CSV file ``path`` holds; refused with ``error`` naming the file beyond ``max_rows``
    rows or when it is not a readable CSV table. Reads at most ``max_rows + 1`` rows."""
    path = Path(path)
    wanted = set(columns)
    try:
        frame = pd.read_csv(path, usecols=lambda name: name in wanted, dtype=dtype, nrows=max_rows + 1)
    except ValueError as err:  # pandas' ParserError and EmptyDataError, UnicodeDecodeError
        raise error(f"{path}: not a readable CSV table ({err})") from None
    if len(frame) > max_rows:
        raise error(f"{path}: more than the {max_rows} rows allowed")
    return frame
