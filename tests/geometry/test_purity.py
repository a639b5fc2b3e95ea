"""webapp.geometry stays pure (numpy/math/pyproj/rasterio), so the simulator and
any tool can use it without the platform: no Flask, SQLAlchemy or other webapp module."""
from __future__ import annotations

import ast
from pathlib import Path

import webapp.geometry

ALLOWED = {"__future__", "math", "os", "tempfile", "pathlib", "functools", "dataclasses", "typing",
           "numpy", "pyproj", "rasterio", "affine"}


def test_geometry_imports_nothing_of_the_platform():
    root = Path(webapp.geometry.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                ok = name.split(".")[0] in ALLOWED or name == "webapp.geometry" or name.startswith("webapp.geometry.")
                assert ok, f"{path.name} imports {name}"
