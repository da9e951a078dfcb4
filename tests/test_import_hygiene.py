"""Only ``mailclean.tui`` may import textual: the library and the CLI must load without it
(a lazy import in the ``review`` command is the only way in)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import mailclean

PROBE = """
import importlib, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    if "textual" in sys.modules and not found:
        found["first"] = name
print(json.dumps({"textual": "textual" in sys.modules, **found}))
"""


def _modules() -> list[str]:
    names = ["mailclean"]
    for info in pkgutil.walk_packages(mailclean.__path__, "mailclean."):
        names.append(info.name)
    return sorted(names)


def _probe(names: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)],
                            capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


def test_no_module_outside_tui_imports_textual() -> None:
    names = [n for n in _modules() if n != "mailclean.tui" and not n.startswith("mailclean.tui.")]
    assert "mailclean.cli" in names and "mailclean.actions" in names and len(names) > 20
    assert _probe(names) == {"textual": False}


def test_the_probe_sees_textual_when_it_is_imported() -> None:
    """The check above can fail: importing the app does load textual."""
    assert _probe(["mailclean.actions", "mailclean.tui.app"]) == {
        "textual": True, "first": "mailclean.tui.app"}
