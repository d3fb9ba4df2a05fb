"""roonsbi.atomic: no overwrite without overwrite=True, and a write that fails leaves the old file
as it was and no temporary file behind (the failures are simulated half-way through a write)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from roonsbi import atomic
from roonsbi.atomic import (
    OVERWRITE_HINT,
    atomic_folder,
    atomic_path,
    refuse_existing,
    temporary_target,
    write_bytes,
    write_text,
)


def _names(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden ones (the temporaries) included."""
    return sorted(os.listdir(folder))


class HalfWay(RuntimeError):
    """The simulated failure in the middle of a write."""


def test_refuse_existing_names_the_file_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    assert refuse_existing(path, overwrite=False) == path  # absent: fine
    path.write_text("user data")
    with pytest.raises(FileExistsError) as info:
        refuse_existing(path, overwrite=False)
    assert str(path) in str(info.value) and "overwrite=True" in str(info.value) and "--overwrite" in str(info.value)
    assert refuse_existing(str(path), overwrite=True) == path
    # a folder and a dangling link count as existing too
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    for name in ("folder", "link"):
        with pytest.raises(FileExistsError, match=name):
            refuse_existing(tmp_path / name, overwrite=False)


def test_write_text_refuses_then_replaces_with_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    assert write_text(path, "first") == path
    assert path.read_text() == "first"
    with pytest.raises(FileExistsError, match=r"out\.json exists; pass overwrite=True"):
        write_text(path, "second")
    assert path.read_text() == "first"
    write_text(path, "second", overwrite=True)
    assert path.read_text() == "second"
    write_bytes(path, b"\x00third", overwrite=True)
    assert path.read_bytes() == b"\x00third"
    assert _names(tmp_path) == ["out.json"]


def test_a_failure_half_way_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "workspace.root"
    path.write_bytes(b"old content")
    seen = []
    for error in (HalfWay("disk full"), KeyboardInterrupt()):
        with pytest.raises(type(error)), atomic_path(path, overwrite=True) as tmp:
            seen.append(tmp)
            with open(tmp, "wb") as f:
                f.write(b"half of the new")
                f.flush()
                raise error
        assert path.read_bytes() == b"old content"
        assert _names(tmp_path) == ["workspace.root"]
    # the temporary was in the same folder (one file system: the rename is atomic), with the suffix
    assert all(t.parent == tmp_path and t.suffix == ".root" and t.name.startswith(".") for t in seen)
    assert [temporary_target(t.name) for t in seen] == ["workspace.root"] * 2


def test_a_failure_when_publishing_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        write_bytes(path, b"new", overwrite=True)
    assert path.read_bytes() == b"old" and _names(tmp_path) == ["plot.png"]


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path: Path) -> None:
    """Without overwrite the new file is linked in, which fails when another writer got there first."""
    path = tmp_path / "summary.json"
    with pytest.raises(FileExistsError, match="appeared while roonsbi was writing it"), atomic_path(path) as tmp:
        tmp.write_text("ours")
        path.write_text("theirs")  # another process, meanwhile
    assert path.read_text() == "theirs" and _names(tmp_path) == ["summary.json"]


def test_without_hard_links_the_file_is_still_written_once(tmp_path: Path, monkeypatch) -> None:
    def no_links(src, dst):
        raise OSError(errno.EPERM, "no hard links on this file system")

    monkeypatch.setattr(atomic.os, "link", no_links)
    path = write_text(tmp_path / "a.txt", "new")
    assert path.read_text() == "new" and _names(tmp_path) == ["a.txt"]
    with pytest.raises(FileExistsError, match="appeared"), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("ours")
        (tmp_path / "b.txt").write_text("theirs")
    assert (tmp_path / "b.txt").read_text() == "theirs" and _names(tmp_path) == ["a.txt", "b.txt"]


def test_new_files_get_the_mode_open_gives(tmp_path: Path) -> None:
    """The temporary is created with 0o666 and the umask, as ``open(path, "w")`` creates a file
    (tempfile.mkstemp would give 0o600)."""
    reference = tmp_path / "reference"
    with open(reference, "w") as f:
        f.write("x")
    written = write_text(tmp_path / "written", "x")
    assert (written.stat().st_mode & 0o777) == (reference.stat().st_mode & 0o777)


def test_wrong_targets_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"the folder .*missing does not exist"):
        write_text(tmp_path / "missing" / "a.txt", "x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_text(tmp_path / "folder", "x", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="it is a file"), atomic_folder(tmp_path / "file", overwrite=True):
        pass
    assert (tmp_path / "file").read_text() == "x" and _names(tmp_path) == ["file", "folder"]


def test_atomic_folder(tmp_path: Path) -> None:
    out = tmp_path / "columns"
    with atomic_folder(out) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir()) and not out.exists()
        (tmp / "r_S.npy").write_bytes(b"first")
        (tmp / "old_only.npy").write_bytes(b"first")
    assert _names(out) == ["old_only.npy", "r_S.npy"]
    with pytest.raises(FileExistsError, match="overwrite=True"), atomic_folder(out):
        pass
    # a failure half-way through the new folder leaves the old one as it was
    with pytest.raises(HalfWay), atomic_folder(out, overwrite=True) as tmp:
        (tmp / "r_S.npy").write_bytes(b"seco")
        raise HalfWay
    assert _names(out) == ["old_only.npy", "r_S.npy"] and (out / "r_S.npy").read_bytes() == b"first"
    assert _names(tmp_path) == ["columns"]
    # with overwrite the new folder replaces the old one as a whole
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "r_S.npy").write_bytes(b"second")
    assert _names(out) == ["r_S.npy"] and (out / "r_S.npy").read_bytes() == b"second"
    assert _names(tmp_path) == ["columns"]


def test_temporary_target() -> None:
    assert temporary_target(".ratios.onnx.0123abcd.tmp.onnx") == "ratios.onnx"
    assert temporary_target(".columns.0123abcd.tmp") == "columns"
    for name in ("ratios.onnx", ".ratios.onnx.0123abcd.tmp.root", ".x.0123abcg.tmp", ".bashrc"):
        assert temporary_target(name) is None, name
    assert "--overwrite" in OVERWRITE_HINT
