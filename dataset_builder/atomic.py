"""Write-then-rename helpers: no job leaves half-written output behind, or replaces what it did not write.

:func:`atomic_directory` is the folder swap every job that writes a whole folder uses (build, prune, the synthetic
generator): it refuses outputs it must not replace, builds beside the destination, swaps the result in with two
renames, and repairs what an earlier run killed mid-way left (:func:`recover`).

Temporary files and folders are created with the modes ordinary ``open`` and ``mkdir`` give (0666 and 0777 less
the process umask, i.e. 0644 and 0755 by default), so what is renamed into place is as readable as any other file
the user writes (``tempfile.mkstemp``/``mkdtemp`` would give 0600/0700 whatever the umask).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from dataset_builder.errors import OutputExistsError, OutputRefusedError

#: Modes asked for; the kernel removes the umask's bits.
FILE_MODE = 0o666
FOLDER_MODE = 0o777


class RecoveryWarning(UserWarning):
    """What a job found and repaired of an earlier run of it that was interrupted."""


@dataclass(frozen=True)
class OutputKind:
    """What a job writes, so that :func:`atomic_directory` replaces only that: a description and a recogniser."""

    description: str  # e.g. "a built glacier-facies dataset (manifest.json)"
    recognise: Callable[[Path], bool]  # True for an existing folder of this kind


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{suffix}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with _naming(path):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Give an OS error that names no file (a full disk, a failed write) the name of the file being written."""
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise type(err)(err.errno, err.strerror, str(path)) from err
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write a file to; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, f".tmp{path.suffix}")
    try:
        with _naming(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(
    path: str | Path, kind: OutputKind, *, inputs: Sequence[str | Path] = (), overwrite: bool = False
) -> Iterator[Path]:
    """Yield a temporary sibling folder to build in; on success it replaces ``path``.

    - ``path`` is resolved first: through a symbolic link the real folder is replaced and the link kept.
    - Always refused (:class:`OutputRefusedError`): the file-system root, the home folder, the current folder or one
      holding it, an ``inputs`` path itself or a folder inside or around one, and a path another job is writing (one
      job per path: a lock file ``.{name}.lock`` beside it while this one runs).
    - Refused unless ``overwrite`` (:class:`OutputExistsError`): an existing file, or a non-empty folder that
      ``kind`` does not recognise as its own.
    - What an interrupted earlier swap of ``path`` left is repaired first (:func:`recover`).
    - An existing folder at ``path`` stays intact until the new one is complete; a SIGTERM (while the job runs in
      the main thread) raises ``SystemExit`` so the temporary folder is removed, and cannot split the two renames.
      After a SIGKILL the next run restores or cleans up (:func:`recover`).
    """
    path = Path(os.path.realpath(path))
    _refuse_unsafe(path, inputs)
    with staging_directory(path) as tmp:
        _refuse_foreign(path, kind, overwrite)
        yield tmp
        _swap(tmp, path)


@contextlib.contextmanager
def staging_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path`` (``.{name}.*.building``), removed afterwards.

    For jobs that write a set of files named after ``path`` and move them into place themselves (scene maps), and
    for :func:`atomic_directory`: one job per ``path`` (a lock file ``.{name}.lock`` beside it, else
    :class:`OutputRefusedError`), what interrupted runs left is repaired first (:func:`recover`), and a SIGTERM (in
    the main thread) raises ``SystemExit`` so that the folder is removed.
    """
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path), _sigterm_raises():
        _recover(path)
        tmp = _sibling(path, ".building")
        os.mkdir(tmp, FOLDER_MODE)
        try:
            yield tmp
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def recover(path: str | Path) -> list[str]:
    """Repair what interrupted swaps of ``path`` left beside it, as the next :func:`atomic_directory` would.

    A run killed between the two renames leaves no ``path`` but the previous version (``.{name}.*.old``): it is
    renamed back. Unfinished builds (``.{name}.*.building``) and a previous version left after the swap are removed.
    Each repair is reported as a :class:`RecoveryWarning` and returned (one line each). Jobs that read ``path`` before
    swapping it (pruning) call this first.
    """
    path = Path(os.path.realpath(path))
    if not path.parent.is_dir():
        return []
    with _locked(path):
        return _recover(path)


def _recover(path: Path) -> list[str]:
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+\.(building|old)")
    with os.scandir(path.parent) as entries:
        left = sorted((Path(e.path) for e in entries if pattern.fullmatch(e.name)), key=lambda p: p.lstat().st_ctime)
    done = []
    olds = [p for p in left if p.suffix == ".old"]
    if olds and not os.path.lexists(path):
        latest = olds[-1]
        os.replace(latest, path)
        left.remove(latest)
        done.append(f"{path}: restored the previous version ({latest.name}) that an interrupted run had moved aside")
    for item in left:
        _remove(item)
    if left:
        names = ", ".join(p.name for p in left)
        done.append(f"{path}: removed {len(left)} temporary folder(s) that interrupted runs left: {names}")
    for line in done:
        warnings.warn(line, RecoveryWarning, stacklevel=3)
    return done


def _refuse_unsafe(path: Path, inputs: Sequence[str | Path]) -> None:
    """Outputs no job may replace, whatever the caller asks."""
    if path.parent == path:
        raise OutputRefusedError(path, "refusing to replace the file-system root")
    for given in inputs:
        source = Path(os.path.realpath(given))
        if source == path:
            raise OutputRefusedError(path, "the output is the source itself; choose another output folder")
        if path in source.parents:
            raise OutputRefusedError(path, f"the output holds the source {source}; replacing it would delete it")
        if source in path.parents:
            raise OutputRefusedError(path, f"the output lies inside the source {source}; write it elsewhere")
    if path == Path(os.path.realpath(Path.home())):
        raise OutputRefusedError(path, "refusing to replace your home folder")
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents:
        raise OutputRefusedError(path, f"refusing to replace the current folder or one holding it ({cwd})")


def _refuse_foreign(path: Path, kind: OutputKind, overwrite: bool) -> None:
    """An existing output is replaced only when it is empty, of ``kind``, or ``overwrite`` is asked for."""
    if overwrite or not os.path.lexists(path):
        return
    if path.is_dir():
        with os.scandir(path) as entries:
            if next(entries, None) is None or kind.recognise(path):
                return
        what = f"a folder that is not {kind.description}"
    else:
        what = "not a folder"
    raise OutputExistsError(path, f"exists and is {what}; refusing to replace it (overwrite=True, --overwrite, does)")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (``.{name}.lock`` beside it, removed afterwards) or refuse."""
    lock = path.with_name(f".{path.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputRefusedError(path, f"another job is writing it (it holds {lock.name}); wait for it") from None
        with contextlib.suppress(FileNotFoundError):
            here, held = os.stat(lock), os.fstat(fd)
            if (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino):
                break
        os.close(fd)  # the previous holder removed the file we locked: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Make SIGTERM raise ``SystemExit(143)`` while the block runs, so ``finally`` clauses clean up.

    Only in the main thread and where nobody set a handler (the default ends the process on the spot).
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _swap(new: Path, path: Path) -> None:
    """Rename ``new`` onto ``path``; an existing ``path`` is moved aside first and removed after."""
    old = _sibling(path, ".old")
    blocked = {signal.SIGTERM, signal.SIGINT}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        if os.path.lexists(path):
            os.replace(path, old)
        os.replace(new, path)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if os.path.lexists(old):
        _remove(old)


def _remove(path: Path) -> None:
    """Remove a file, link or folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
