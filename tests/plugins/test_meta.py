"""Meta-tests in the manner of Datasette's: the contract cannot grow a hook
that is undocumented or untested. Every hook in ``webapp.hookspecs`` must be
named in docs/plugins.md (in a heading or a row of the hooks table) and have a
test function called ``test_hook_<hook name>…`` somewhere under tests/plugins."""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from webapp import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, "nrsc_spec"))


def _documented_lines() -> list[str]:
    """Headings and table rows of docs/plugins.md: where a hook is documented."""
    return [line for line in DOCS.read_text(encoding="utf-8").splitlines()
            if line.startswith("#") or line.startswith("|")]


def _test_names() -> set[str]:
    names = set()
    for path in TESTS.rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


def test_the_hook_list_is_read_from_the_specs():
    # Guards the two tests below against passing on an empty list.
    assert len(HOOKS) >= 8 and "register_gis_layers" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    pattern = re.compile(rf"`{hook}\b")
    assert any(pattern.search(line) for line in _documented_lines()), (
        f"hook {hook} is not named in a heading or table row of docs/plugins.md")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    assert any(name.startswith(f"test_hook_{hook}") for name in _test_names()), (
        f"no test function named test_hook_{hook}… under tests/plugins")


@pytest.mark.parametrize("hook", sorted(hookspecs.DOMAIN_SCOPED))
def test_domain_scoped_hooks_are_specs(hook):
    assert hook in HOOKS
