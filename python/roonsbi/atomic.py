"""Writing files: nothing the user wrote is replaced without asking, and every write is atomic.

Every file roonsbi writes (workspaces, templates, columns, networks, JSON, figures, the demo's
outputs) goes through this module, so that the two rules hold in one place:

* **No silent overwrite.** An existing ``path`` is replaced only when the caller passed
  ``overwrite=True`` (on the command line ``--overwrite``); otherwise :func:`refuse_existing` raises
  ``FileExistsError`` naming the file and the option, before anything is written.
* **Atomic.** The writer writes a temporary file in the folder of ``path`` (the same file system),
  which is flushed to disk (``fsync``) and then takes the place of ``path`` in one rename
  (``os.replace``): a reader sees the old file or the new one, never a part of either. An error or
  an interrupt (Ctrl-C) during the write removes the temporary file and leaves the old file as it
  was. Without ``overwrite`` the new file is published with a hard link, which fails if ``path``
  appeared in the meantime (another process), so even then nothing is replaced.

:func:`atomic_path` gives the temporary path to writers that open the file themselves (ROOT's
``RooWorkspace::writeToFile``, uproot, matplotlib, onnx; the C++ ``RooNSBI::StoreWriter`` follows the same
rules itself, after :func:`check_target`); :func:`write_text` and :func:`write_bytes`
are the plain cases; :func:`atomic_folder` does the same for a folder (columns as one ``.npy``
per column), whose replacement is two renames (the old folder aside, the new one in place).

A temporary is named ``.<name>.<8 hex digits>.tmp<suffix>``, keeping the suffix of ``path``
because matplotlib and others choose the format from it. Only a process that is killed outright
(SIGKILL, a power cut) leaves one behind; :func:`temporary_target` recognises them:

>>> temporary_target(".scan_mu.png.1f2e3d4c.tmp.png"), temporary_target("scan_mu.png")
('scan_mu.png', None)
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .spec import PathLike

__all__ = [
    "OVERWRITE_HINT",
    "atomic_folder",
    "atomic_path",
    "check_target",
    "refuse_existing",
    "temporary_target",
    "write_bytes",
    "write_text",
]

#: the option that lets a writer replace an existing file, as the error messages name it
OVERWRITE_HINT = "overwrite=True (on the command line: --overwrite)"

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?$")
_MAX_NAME = 120  # characters of the target's name kept in a temporary's name (NAME_MAX is 255 bytes)


def refuse_existing(path: PathLike, overwrite: bool) -> Path:
    """``path`` as a Path; FileExistsError if it exists (a file, a folder or a link) and not ``overwrite``.

    Writers call it before their work (a training, a long evaluation), not only when they write.
    """
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(f"{path} exists; pass {OVERWRITE_HINT} to replace it")
    return path


def check_target(path: PathLike, overwrite: bool) -> Path:
    """The checks :func:`atomic_path` makes on entry, for a writer that makes the temporary file and the
    rename itself (``RooNSBI::StoreWriter``): ``path`` as a Path, a file name in an existing folder, not a
    folder, absent unless ``overwrite`` (ValueError, FileNotFoundError, IsADirectoryError, FileExistsError)."""
    return _target(path, overwrite, folder=False)


def temporary_target(name: str) -> str | None:
    """The file name that the temporary ``name`` (see the module documentation) was to become, or None."""
    m = _TEMPORARY.match(name)
    if not m or (m.group("suffix") or "") != Path(m.group("name")).suffix:
        return None
    return m.group("name")


@contextmanager
def atomic_path(path: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path next to ``path`` for the body to write; on success it replaces ``path``.

    ``path`` may be replaced only with ``overwrite`` (:func:`refuse_existing`, checked on entry and
    again when the file is published). The temporary file exists (empty) on entry. An exception in
    the body removes it and leaves ``path`` untouched::

        with atomic_path("nsbi.root", overwrite) as tmp:
            if not workspace.writeToFile(str(tmp), True):
                raise OSError("could not write nsbi.root")
    """
    path = _target(path, overwrite, folder=False)
    tmp = _temporary(path, folder=False)
    try:
        yield tmp
        _sync(tmp)
        _publish(tmp, path, overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


@contextmanager
def atomic_folder(path: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """As :func:`atomic_path`, for a folder: the body fills an empty temporary folder, which then
    takes the place of ``path``.

    With ``overwrite`` an existing folder ``path`` is first renamed aside and removed once the new
    one is in place (a crash between the two renames leaves it under its temporary name). Whether
    a folder may be replaced at all (what it holds) is the caller's decision, taken before.
    """
    path = _target(path, overwrite, folder=True)
    tmp = _temporary(path, folder=True)
    try:
        yield tmp
        for f in sorted(tmp.rglob("*")):
            if f.is_file():
                _sync(f)
        _publish(tmp, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _sync_folder(path.parent)


def write_text(path: PathLike, text: str, overwrite: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (an existing file only with ``overwrite``); returns ``path``."""
    return write_bytes(path, text.encode(encoding), overwrite)


def write_bytes(path: PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (an existing file only with ``overwrite``); returns ``path``."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return path


# -- the steps --------------------------------------------------------------------------------------

def _target(path: PathLike, overwrite: bool, folder: bool) -> Path:
    """``path`` checked: a name, in an existing folder, absent or (with ``overwrite``) of the same kind."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"cannot write to {str(path)!r}: give a file name")
    if path.is_dir() and not folder:
        raise IsADirectoryError(f"cannot write the file {path}: it is a folder; choose another name")
    if path.exists() and not path.is_dir() and folder:
        raise NotADirectoryError(f"cannot write the folder {path}: it is a file; choose another name")
    refuse_existing(path, overwrite)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


def _temporary(path: Path, folder: bool) -> Path:
    """Create (exclusively) and return a new temporary file or folder next to ``path``."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name[:_MAX_NAME]}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            if folder:
                tmp.mkdir()
            else:  # mode 0o666 and the umask, as open() gives a new file
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")  # pragma: no cover


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Put ``tmp`` in the place of ``path``: replacing it with ``overwrite``, else only if it is still absent."""
    appeared = FileExistsError(f"{path} appeared while roonsbi was writing it; not replaced "
                               f"(pass {OVERWRITE_HINT} to replace it)")
    if overwrite:
        if tmp.is_dir() and path.is_dir() and not path.is_symlink():
            aside = path.with_name(f".{path.name[:_MAX_NAME]}.{secrets.token_hex(4)}.tmp{path.suffix}")
            os.rename(path, aside)
            os.rename(tmp, path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, path)
        return
    if tmp.is_dir():
        if path.exists() or path.is_symlink():
            raise appeared
        os.rename(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails, unlike a rename, if path exists
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links (FAT, some network file systems)
        if path.exists() or path.is_symlink():
            raise appeared from None
        os.replace(tmp, path)
    else:
        tmp.unlink()


def _sync(path: Path) -> None:
    """Flush the contents of the file ``path`` to disk (before the rename that publishes it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush the entries of ``folder`` (the rename) to disk, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
