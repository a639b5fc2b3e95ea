"""The house's layers and its import graph: import-linter's contracts
(pyproject.toml), no import cycles inside the core, and areas reaching into
each other only through public (non-underscore) modules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
AREAS = ("alerts", "orders", "notify", "printing", "gis", "org", "api", "platform", "auth", "admin", "demo")


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(ROOT))
    return grimp.build_graph("webapp", "plugins", cache_dir=None)


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycles_in_the_core(graph):
    cycles = []
    for module in sorted(graph.modules):
        if not module.startswith("webapp."):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            # A module importing its own package's __init__ is not a cycle of ours.
            if module.startswith(imported + "."):
                continue
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}: "
                              + " -> ".join(graph.find_shortest_chain(importer=imported, imported=module)))
    assert cycles == []


def test_areas_use_each_others_public_modules_only(graph):
    private_reach = []
    for module in graph.modules:
        parts = module.split(".")
        if len(parts) < 3 or parts[0] != "webapp" or parts[1] not in AREAS:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            iparts = imported.split(".")
            if (len(iparts) >= 3 and iparts[0] == "webapp" and iparts[1] in AREAS and iparts[1] != parts[1]
                    and any(p.startswith("_") for p in iparts[2:])):
                private_reach.append(f"{module} -> {imported}")
    assert private_reach == []


def test_the_cycle_check_sees_a_cycle(tmp_path):
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc import b\n")
    (pkg / "b.py").write_text("from cyc import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        g = grimp.build_graph("cyc", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert g.chain_exists(importer="cyc.a", imported="cyc.b") and g.chain_exists(importer="cyc.b", imported="cyc.a")
