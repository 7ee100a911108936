"""The Makefile on a fresh machine: installing uv when it is missing, with a stand-in pip."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A stand-in `python3`: `-m pip install` fails like an externally managed Python
# for the first FAILS calls, then succeeds; every call is logged.
_FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "{log}"
calls=$(wc -l < "{log}")
if [ "$calls" -le {fails} ]; then
  echo "error: externally-managed-environment (long explanation)" >&2
  exit 1
fi
exit 0
"""


def _have_uv(tmp_path: Path, fails: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "calls.log"
    python = tmp_path / "python3"
    python.write_text(_FAKE_PYTHON.format(log=log, fails=fails))
    python.chmod(0o755)
    done = subprocess.run(
        ["make", "-s", "have-uv", f"PYTHON={python}", f"UV={tmp_path / 'no-uv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, log.read_text().splitlines()


def test_an_externally_managed_python_gets_uv_without_a_wall_of_errors(tmp_path: Path) -> None:
    """pip refusing twice (PEP 668) is not shown; the third way installs uv and make goes on."""
    done, calls = _have_uv(tmp_path, fails=2)
    assert done.returncode == 0, done.stderr
    assert "externally-managed" not in done.stderr
    assert len(calls) == 3
    assert calls[-1].endswith("--user --break-system-packages uv")


def test_no_way_to_install_uv_says_what_to_do(tmp_path: Path) -> None:
    """When every pip attempt fails, make stops with the last error and the way out."""
    done, calls = _have_uv(tmp_path, fails=3)
    assert done.returncode != 0
    assert len(calls) == 3
    assert "could not install uv with pip" in done.stderr
    assert "https://docs.astral.sh/uv/" in done.stderr
