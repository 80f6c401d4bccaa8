"""Pure decision code imports no I/O framework (DESIGN §1): checked on the modules' import statements."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"gevent", "greenswitch", "flask", "flask_sqlalchemy", "flask_mail", "flask_login", "flask_wtf",
             "sqlalchemy", "socket", "psycopg2", "requests", "smtplib"}
PURE_MODULES = ["callrec/policy.py", "callrec/validation.py"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_io_framework(module):
    assert imported_roots(ROOT / module) & FORBIDDEN == set()
