"""The lock over the files that several jobs change in one dataset folder: the leaderboard (``leaderboard.json``)
and the dataset card that shows it, which submissions, card refreshes and pruning all rewrite.

The lock is a dotfile in the folder (never published), held across processes with :mod:`filelock`; every
read-modify-write of those files happens inside :func:`leaderboard_lock`, and pruning holds it from copying them
into its new folder until that folder has replaced the old one, so no submission can land in between and be lost.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from dataset_builder.errors import DatasetNotFoundError, GlacierFaciesError

#: The lock file of the leaderboard and the card; a dotfile, so it is never published (``modeling.hub.IGNORED``).
LOCK_FILE = ".leaderboard.lock"
#: Seconds to wait for another process's update (a submission takes well under a second) before giving up.
LOCK_TIMEOUT = 60.0


class LeaderboardBusyError(GlacierFaciesError, TimeoutError):
    """Another process held the leaderboard lock for longer than the timeout; the message names the lock file."""


@contextlib.contextmanager
def leaderboard_lock(folder: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the leaderboard lock of a dataset folder: one process at a time reads, changes and writes
    ``leaderboard.json`` and the card. Re-entrant within a thread (a locked update may refresh the card, which
    locks too).

    Raises:
        DatasetNotFoundError: ``folder`` is not a folder.
        LeaderboardBusyError: the lock was not free within ``timeout`` seconds.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such dataset folder")
    path = folder.resolve() / LOCK_FILE
    lock = FileLock(path, is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LeaderboardBusyError(
            f"{path}: another process held the leaderboard lock for {timeout:g} s; try again"
        ) from None
    try:
        yield
    finally:
        lock.release()
