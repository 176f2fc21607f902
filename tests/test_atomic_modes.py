"""Atomic writes give files and folders the modes the umask allows (0644/0755 by default), like ordinary writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dataset_builder.atomic import OutputKind, atomic_directory, atomic_path, atomic_write_bytes, atomic_write_text

BUILT = OutputKind("a test folder (card.md)", lambda folder: (folder / "card.md").is_file())


@pytest.mark.parametrize(
    "umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, file_mode: int, folder_mode: int):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        atomic_write_text(tmp_path / "b.json", "{}")
        with atomic_path(tmp_path / "c.csv") as tmp:
            tmp.write_text("a,b\n")
        with atomic_directory(tmp_path / "built", BUILT) as folder:
            (folder / "data.txt").write_text("x")
            atomic_write_text(folder / "card.md", "# card")
        with atomic_directory(tmp_path / "built", BUILT) as folder:  # replacing an existing folder
            atomic_write_text(folder / "card.md", "# card 2")
        ordinary = tmp_path / "ordinary.txt"
        ordinary.write_text("x")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(ordinary) == file_mode
    for path in (tmp_path / "a.bin", tmp_path / "b.json", tmp_path / "c.csv", tmp_path / "built" / "card.md"):
        assert mode(path) == file_mode, path.name
    assert mode(tmp_path / "built") == folder_mode
    assert (tmp_path / "built" / "card.md").read_text() == "# card 2" and sorted(
        p.name for p in tmp_path.iterdir()
    ) == [
        "a.bin",
        "b.json",
        "built",
        "c.csv",
        "ordinary.txt",
    ]


def test_a_failed_atomic_write_leaves_nothing(tmp_path: Path):
    class Boom(Exception):
        pass

    atomic_write_text(tmp_path / "kept.txt", "old")
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "kept.txt") as tmp:
            tmp.write_text("new")
            raise Boom
    with pytest.raises(Boom):
        with atomic_directory(tmp_path / "folder", BUILT):
            raise Boom
    assert (tmp_path / "kept.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
