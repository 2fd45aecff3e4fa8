"""A small tmpfs of a test's own: a real filesystem that fills up (in bytes, or in files with `nr_inodes`) and
whose files can be made immutable (`chattr +i`, which even root cannot remove or rename over). Root only: the
test is skipped with a message otherwise."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(options: str) -> Iterator[Path]:
    """A tmpfs mounted with `options` ("size=3m", "size=8m,nr_inodes=64"), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the cases on a real full filesystem are skipped")
    mount = Path(tempfile.mkdtemp(prefix="heartsong-small-disk-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); full-disk cases skipped")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


def set_immutable(path: Path, on: bool) -> None:
    """`chattr +i` / `-i`: an immutable file cannot be removed, renamed or replaced, by root either."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr here (e2fsprogs); the cases with an immutable file are skipped")
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)
