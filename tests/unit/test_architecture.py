"""The hexagon holds: import-linter contracts pass, and the domain imports only the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_core_packages_import_only_stdlib_and_jackfruit():
    allowed = set(sys.stdlib_module_names) | {"jackfruit"}
    for package in ("domain", "ports", "usecases"):
        for path in (ROOT / "jackfruit" / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                for name in names:
                    assert name.split(".")[0] in allowed, f"{path.relative_to(ROOT)} imports {name}"
