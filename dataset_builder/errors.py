"""The project's errors: one base class, :class:`GlacierFaciesError`, and the data layer's specific subclasses.

Every error the project raises on purpose derives from :class:`GlacierFaciesError`, so a command-line job can
catch that one class (plus the expected ``OSError``) and print one line. Each subclass also derives from the
built-in exception it used to be (``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
The modelling layer adds its own subclasses in :mod:`modeling.errors`.
"""

from __future__ import annotations

from pathlib import Path


class GlacierFaciesError(Exception):
    """Base class of every error this project raises on purpose; the message names the file, row or field."""


class PlacedError(GlacierFaciesError):
    """An error about one place (a file, a table row, a field): ``where`` and ``reason``, kept apart for reports."""

    def __init__(self, where: str | Path, reason: str):
        self.where = str(where)
        self.reason = reason
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.where, self.reason))


class SchemaError(GlacierFaciesError, ValueError):
    """A value that the benchmark's vocabulary does not know."""


class DatasetNotFoundError(GlacierFaciesError, FileNotFoundError):
    """A source or built dataset folder that does not exist or holds nothing usable."""


class InvalidSourceError(PlacedError, ValueError):
    """A source file or table row that cannot become a dataset row; names the place."""


class OutlinesError(PlacedError, ValueError):
    """Glacier outlines that cannot be used (unreadable, no CRS, no id column, bad geometries)."""


class PredictionsError(GlacierFaciesError, ValueError):
    """A predictions table that breaks the format; the message names the file or row."""


class PruningInputError(GlacierFaciesError, ValueError):
    """Probabilities that do not fit the dataset; the message names the file and sample."""


class OutputRefusedError(PlacedError, ValueError):
    """An output path a job will not replace: the source, a folder around or inside it, the current or home folder,
    or one another job is writing; names the path."""


class OutputExistsError(OutputRefusedError):
    """An existing output path that the job did not write (a file, or a folder it does not recognise as its own); it
    is replaced only when the caller asks (``overwrite=True``, ``--overwrite``)."""


class FileFormatError(GlacierFaciesError, ValueError):
    """A file that is malformed, or too large or too deeply nested to read; the message names the file."""


class DatasetChangedError(GlacierFaciesError):
    """A built dataset folder that a prune or rebuild replaced while it was being read (or that is not at the
    revision a reader was pinned to); the message names both revisions. Reading again reads the new one."""


class IncompleteManifestError(GlacierFaciesError, ValueError):
    """A built dataset folder whose ``manifest.json`` does not list the rows its ``statistics.json`` counts (a shard
    or a fold missing): a card rendered from it would silently leave rows out."""
