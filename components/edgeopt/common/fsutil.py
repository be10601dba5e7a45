"""File-system helpers that never leave a half-written result behind and never delete a user's file.

A folder edgeopt writes records the names it wrote in `.edgeopt-files`. Writing the folder again
replaces those names and keeps everything else: files a user put there survive every rerun.
"""

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeopt.common.errors import EdgeoptError

MANIFEST = ".edgeopt-files"
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG)


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a scratch directory that becomes `target` only if the block succeeds.

    At the end the scratch folder replaces `target` in one rename. Entries of an existing `target`
    that edgeopt did not write there (not in its `.edgeopt-files`) are carried over as hard links
    (copies across devices), so no file of the user's is lost; a user file with a name the new
    result needs is refused (EdgeoptError) rather than replaced. On any exception the scratch
    folder is removed and `target` is left exactly as it was.
    """
    target = Path(target)
    check_writable_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(scratch, 0o777 & ~current_umask())
    try:
        yield scratch
        written = sorted(p.name for p in scratch.iterdir() if p.name != MANIFEST)
        if target.is_dir():
            _carry_over_foreign(target, scratch, set(written))
        (scratch / MANIFEST).write_text("".join(f"{name}\n" for name in written))
        _swap(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def written_names(folder: Path) -> set[str] | None:
    """The names edgeopt recorded as written in `folder`, or None when it kept no record."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    return {line for line in manifest.read_text().splitlines() if line} | {MANIFEST}


def check_writable_dir(target: Path | str, what: str = "output") -> None:
    """EdgeoptError unless `target` is, or can be created as, a writable folder.

    Catches a file at `target` or on its path, and a nearest existing folder that refuses writes.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise EdgeoptError(f"{what} {target} is a file, not a folder", "pass a folder path")
    ancestor = target
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise EdgeoptError(f"{what} path {ancestor} is a broken symbolic link", "pass another folder path")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EdgeoptError(f"{what} {target} cannot be created: {ancestor} is a file",
                           "pass a folder path whose parents are folders")
    probe_dir = target if target.is_dir() else ancestor
    try:
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        raise EdgeoptError(f"{what} {target} is not writable ({exc.strerror or exc})",
                           "pass a folder you can write to, with free space") from exc


def current_umask() -> int:
    """The process umask: read from /proc on Linux (safe with threads running), else by setting it
    back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def dir_size(path: Path | str) -> int:
    """Total bytes of a file, or of all files under a directory."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _carry_over_foreign(target: Path, scratch: Path, written: set[str]) -> None:
    ours = written_names(target)
    for entry in sorted(target.iterdir()):
        if entry.name == MANIFEST or (ours is not None and entry.name in ours):
            continue
        if entry.name in written:
            if ours is None:
                continue  # a folder from before records were kept: its names are edgeopt's
            raise EdgeoptError(f"{target} holds {entry.name}, which edgeopt did not write and would replace",
                               f"move {entry} elsewhere, or pass another output folder")
        _link_tree(entry, scratch / entry.name)


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link `src` (a file, or a folder recursively) at `dest`; copy where linking fails."""
    def link(a: str, b: str) -> None:
        try:
            os.link(a, b, follow_symlinks=False)
        except OSError:
            shutil.copy2(a, b, follow_symlinks=False)

    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dest, symlinks=True, copy_function=link)
    else:
        link(str(src), str(dest))


def _swap(scratch: Path, target: Path) -> None:
    if not target.exists():
        scratch.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    scratch.rename(target)
    shutil.rmtree(old, ignore_errors=True)
