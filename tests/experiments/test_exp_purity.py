"""experiments/ is a pure library: no I/O, no clocks, no connector."""

from __future__ import annotations

import ast
from pathlib import Path

import experiments

FORBIDDEN_MODULES = {"connector", "httpx", "requests", "apscheduler", "sqlite3", "socket", "os", "time", "random"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "read_csv", "to_csv", "read_parquet"}


def test_no_io_clock_or_connector_imports():
    package = Path(experiments.__file__).parent
    offences = []
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name in FORBIDDEN_CALLS:
                    offences.append(f"{path.name}:{node.lineno} calls {name}")
                continue
            else:
                continue
            offences += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
    assert offences == []
