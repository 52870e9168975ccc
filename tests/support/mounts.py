"""Real filesystems for the disk-fault tests: a small tmpfs, mounted and always unmounted."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a mount(8)-style command; never raises on failure."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


@functools.cache
def mount_permitted() -> bool:
    """Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN, and mount(8) present)."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return False
    probe = tempfile.mkdtemp(prefix="nglogger-mount-probe-")
    try:
        if run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe).returncode != 0:
            return False
        unmount(Path(probe))
        return True
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(probe)


def unmount(where: Path) -> None:
    """Unmount ``where``; lazily if something still holds it (never leave a mount behind)."""
    if run("umount", str(where)).returncode != 0:
        run("umount", "-l", str(where))


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the duration of the block."""
    where.mkdir(exist_ok=True)
    done = run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    assert done.returncode == 0, done.stderr
    try:
        yield where
    finally:
        unmount(where)
