"""What the code imports is what the package declares, and settings come from
one place."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("webapp", "plugins", "simulator")
# Imported only by the plugin author's test kit, which runs under pytest.
EXTRAS_FOR = {"webapp/testing.py": "test"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imports() -> dict[str, set[str]]:
    """Top-level third-party module -> files importing it (at any depth)."""
    found: dict[str, set[str]] = {}
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in SOURCES and top != "__future__":
                        found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_every_imported_package_is_a_declared_dependency():
    project = _project()
    declared = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project.get("optional-dependencies", {}).items()}
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(_imports().items()):
        distributions = {_name(d) for d in providers.get(module, [])}
        assert distributions, f"{module} (imported by {sorted(files)}) is not installed"
        for file in files:
            allowed = declared | extras.get(EXTRAS_FOR.get(file, ""), set())
            if not distributions & allowed:
                missing.append(f"{module} ({'/'.join(sorted(distributions))}) imported by {file}")
    assert not missing, "imported but not in pyproject dependencies: " + "; ".join(missing)


def test_every_declared_dependency_has_an_exact_pin():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            pins[_name(line)] = line
    project = _project()
    requirements = project["dependencies"] + [r for v in project.get("optional-dependencies", {}).values() for r in v]
    assert not [r for r in requirements if _name(r) not in pins], "declared without a pin in requirements.txt"


def test_settings_are_read_only_in_config():
    readers = []
    for path in (ROOT / "webapp").rglob("*.py"):
        if path.name == "config.py" and path.parent.name == "webapp":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bos\.(environ|getenv)\b|\bgetenv\(", line):
                readers.append(f"{path.relative_to(ROOT)}:{number}")
    assert not readers, f"settings read outside webapp/config.py: {readers}"
