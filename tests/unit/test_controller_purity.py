"""The pure decision modules import no I/O framework (checked by import inspection)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
PURE_MODULES = ["facts.py", "decisions.py", "tracker.py"]
FORBIDDEN = {"gevent", "greenswitch", "flask", "flask_sqlalchemy", "sqlalchemy", "socket", "psycopg2", "sqlite3",
             "threading", "asyncio", "requests", "callrec.models", "callrec.app"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_decision_modules_import_no_io(module):
    imported = _imports(CONTROLLER / module)
    bad = {name for name in imported if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_pure_modules_only_import_pure_callrec_modules():
    for module in PURE_MODULES:
        callrec_imports = {n for n in _imports(CONTROLLER / module) if n.startswith("callrec")}
        assert callrec_imports <= {"callrec.policy"}, (module, callrec_imports)
