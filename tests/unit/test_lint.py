"""The code's own rules, checked with the tests (and so in CI): ruff with the
rule set in pyproject.toml, and the import contracts in .importlinter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..support import ROOT, unavailable


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        unavailable(name, f"{name} is not installed (pip install -e '.[test]')")
    return path


def test_ruff_is_clean():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_are_kept():
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
