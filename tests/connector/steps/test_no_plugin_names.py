"""The steps never name a source or destination: a new plugin is one package, no step changes."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import connector.steps
from connector.crm.registry import BUILTIN

STEPS = sorted(Path(connector.steps.__file__).parent.glob("*.py"))
PLUGIN_PACKAGES = ("connector.crm.salesforce", "connector.crm.hubspot", "connector.crm.files")
NAMES = [e.name for e in BUILTIN]


def code_of(path: Path) -> str:
    """The module's code without comments (docstrings stay: they are strings of the module)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return " ".join(t.string for t in tokens if t.type != tokenize.COMMENT)


def test_every_step_module_is_checked() -> None:
    assert {p.stem for p in STEPS} >= {"pull", "plan", "push", "desired", "model", "snapshot", "offers", "experiment"}


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_no_crm_name_in_step_code(path: Path) -> None:
    code = code_of(path).lower()
    for crm in ("salesforce", "hubspot"):
        assert crm not in code, f"{path.name} names {crm}"


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_no_plugin_name_is_a_string_in_a_step(path: Path) -> None:
    """No special case by name: not even the files source's ("files" as a literal)."""
    tree = ast.parse(path.read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & set(NAMES), f"{path.name} names plugin(s) {sorted(literals & set(NAMES))}"


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_no_step_imports_a_plugin_package(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    bad = sorted(m for m in imported if m.startswith(PLUGIN_PACKAGES))
    assert not bad, f"{path.name} imports {bad}"


def test_importing_the_steps_loads_no_plugin_package() -> None:
    """The import graph, transitively: loading every step pulls in no plugin implementation."""
    probe = ("import sys, connector.steps, connector.pipeline; "
             f"print(sorted(m for m in sys.modules if m.startswith({PLUGIN_PACKAGES!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
