"""The example external plugin: pip-installed into the venv, it adds an eighth
domain through its entry point without any change to the core."""
from __future__ import annotations

import importlib
import site
import subprocess
import sys
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from webapp.testing import alert_view, routing_context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nrsc-illegal-construction"
CODE = "illegal_construction"


def _entry_point():
    return next((ep for ep in entry_points(group="nrsc.plugins") if ep.name == CODE), None)


@pytest.fixture(scope="module")
def example_installed():
    """Install the example like a department would (scripts/setup does the same)."""
    if _entry_point() is None:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE)],
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        # This interpreter read its .pth files at start-up; read the new one now.
        purelib = sysconfig.get_paths()["purelib"]
        for pth in Path(purelib).glob("*nrsc_illegal_construction*.pth"):
            site.addpackage(purelib, pth.name, None)
        importlib.invalidate_caches()
    ep = _entry_point()
    assert ep is not None and ep.value == "nrsc_illegal_construction"
    return ep


def test_installed_plugin_adds_an_eighth_domain_through_entry_points(example_installed, app, org, login_as):
    host = app.extensions["nrsc.plugins"]
    assert len(host.domains) >= 8 and host.failures == []
    domain = host.domains[CODE]
    assert (domain.name_zh, domain.working_group) == ("违法建设", 1)
    # Registered under its entry-point name, loaded from the example package.
    module = host.pm.get_plugin(CODE)
    assert Path(module.__file__).resolve().is_relative_to(EXAMPLE.resolve())
    routing = host.route(alert_view(CODE, "steel_shed"), routing_context("taiyangshan"))
    assert (routing.lead_unit, routing.cooperating) == ("housing_construction", ("town.taiyangshan",))
    assert "blue_roof" in host.detectors
    template = host.workorder_template(CODE)
    source, filename, _ = app.jinja_env.loader.get_source(app.jinja_env, template)
    assert "domain_details" in source and Path(filename).resolve().is_relative_to(EXAMPLE.resolve())

    browser, _ = login_as("leader_viewer")
    page = browser.get("/", follow_redirects=True).get_data(as_text=True)
    assert "违法建设" in page and "耕地保护" in page


def test_the_core_does_not_name_the_example_domain():
    for folder in ("webapp", "plugins"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".html", ".toml", ".cfg"):
                assert CODE not in path.read_text(encoding="utf-8"), path


def test_the_examples_own_tests_pass_with_the_test_kit(example_installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=EXAMPLE,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
