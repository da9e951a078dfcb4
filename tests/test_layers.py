"""What may import what (issue 15), read from the source with ``ast``: data flows servers →
connectors → index → rules → workflows → people, with no import back up.

- the shared model, MIME parsing, the index and the rules never import a connector, the
  config, the workflows, the command line or the app;
- connectors never import the config, the workflows, the command line or the app (secrets
  reach them through ``Credentials``, built in ``mailclean.plugins``);
- only the command line and the app import the workflows;
- textual is imported only by the app's UI modules (``tui/app``, ``screens``, ``widgets``,
  ``text``): not by ``tui/data`` or ``tui/jobs``, and by nothing outside ``tui``;
- the model imports no other mailclean module at all;
- the tests and the benchmarks share code through ``tests/support/`` (and the harnesses
  ``tests/dovecot.py`` and ``tests/ews/``), never by importing a test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mailclean"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package -> every module it imports (at any depth of the file:
    imports inside functions count, TYPE_CHECKING ones too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        mod = _module(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[mod] = found
    return graph


GRAPH = _imports()


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(sources: tuple[str, ...], forbidden: tuple[str, ...],
                allowed_sources: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        f"{mod} imports {name}"
        for mod, names in GRAPH.items()
        if _under(mod, *sources) and not _under(mod, *allowed_sources)
        for name in names if _under(name, *forbidden)
    )


UPPER = ("mailclean.workflows", "mailclean.cli", "mailclean.cli_progress", "mailclean.tui",
         "mailclean.snapshot")


def test_the_graph_was_read() -> None:
    assert "mailclean.workflows" in GRAPH and "mailclean.model" in GRAPH
    assert "mailclean.actions" in GRAPH["mailclean.workflows"]


def test_model_mime_index_rules_never_import_connectors_config_or_above() -> None:
    low = ("mailclean.model", "mailclean.mime", "mailclean.index", "mailclean.rules",
           "mailclean.validation")
    assert _violations(low, ("mailclean.connectors", "mailclean.config", "mailclean.plugins",
                             *UPPER)) == []


def test_the_model_imports_no_other_mailclean_module() -> None:
    assert _violations(("mailclean.model",), ("mailclean",)) == []


def test_connectors_never_import_config_cli_tui_or_workflows() -> None:
    assert _violations(("mailclean.connectors",),
                       ("mailclean.config", "mailclean.plugins", *UPPER)) == []


def test_only_the_cli_and_the_app_import_the_workflows() -> None:
    assert _violations(("mailclean",), ("mailclean.workflows",),
                       allowed_sources=("mailclean.workflows", "mailclean.cli",
                                        "mailclean.tui")) == []


@pytest.mark.parametrize("module", ["mailclean.tui.data", "mailclean.tui.jobs",
                                    "mailclean.tui"])
def test_the_app_s_logic_does_not_import_textual(module: str) -> None:
    assert not [n for n in GRAPH[module] if _under(n, "textual")]


def test_textual_stays_in_the_app_s_ui_modules() -> None:
    ui = ("mailclean.tui.app", "mailclean.tui.screens", "mailclean.tui.widgets",
          "mailclean.tui.text")
    assert _violations(("mailclean",), ("textual",), allowed_sources=ui) == []


def test_no_test_module_is_imported_by_another() -> None:
    root = PACKAGE.parent
    found = []
    for path in [*(root / "tests").rglob("*.py"), *(root / "bench").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            found += [f"{path.relative_to(root)} imports {n}" for n in names
                      if n.startswith("tests.test_")]
    assert found == []
