"""scripts/test.sh (README's second command) in a copy of the checkout: it gets past a .venv
that `python3 -m venv` left half-made, and runs twice in a row.

Each run collects one small test file (`--co`), so what is measured is the script's own work:
its Debian packages (all present here, so apt is not called), the venv and the pip install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SELECTION = ("tests/unit/api/test_quantity.py", "--co", "-q", "-p", "no:cacheprovider")

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-query") is None or shutil.which("git") is None,
    reason="test.sh is for Debian; the copy is made with git",
)


def _copy_checkout(dest: Path) -> Path:
    """The tracked files only, as a clone has them (no .venv, no caches)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _run(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/test.sh", *SELECTION],
        cwd=checkout, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip


def _collected(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and " tests collected" in result.stdout


@pytest.mark.timeout(1200)
def test_gets_past_a_half_made_venv_and_runs_twice(tmp_path: Path) -> None:
    """A .venv without pip (what a failed ensurepip leaves) is made again instead of failing on
    .venv/bin/pip, and pytest runs; a second run reuses that .venv and runs again."""
    checkout = _copy_checkout(tmp_path / "checkout")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(checkout / ".venv")],
                   check=True)  # fmt: skip
    assert not (checkout / ".venv" / "bin" / "pip").exists()

    first = _run(checkout)
    assert _collected(first), first.stdout + first.stderr
    assert (checkout / ".venv" / "bin" / "pip").exists()
    venv_python = checkout / ".venv" / "bin" / "python"
    made = venv_python.stat().st_ino

    second = _run(checkout)
    assert _collected(second), second.stdout + second.stderr
    assert venv_python.stat().st_ino == made  # reused, not made again
