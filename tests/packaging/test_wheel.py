"""The wheel: every package, the resources as package data, nothing else.

The wheel is built from a copy of the source tree, so setuptools' build/ folder of
the checkout (and whatever stale files it holds) plays no part.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import app

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "shots"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "plan-runner"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("plan_runner-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_version_of_app_init(wheel):
    assert wheel.name.startswith(f"plan_runner-{app.__version__}-py3-none-any")


def test_the_wheel_holds_every_package_under_app(names):
    packages = sorted(
        init.parent.relative_to(ROOT).as_posix()
        for init in (ROOT / "app").rglob("__init__.py")
        if "__pycache__" not in init.parts
    )

    missing = [p for p in packages if f"{p}/__init__.py" not in names]

    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}"


def test_the_wheel_holds_the_resources_as_package_data(names):
    svgs = sorted(p.name for p in (ROOT / "resources").glob("*.svg"))
    assert svgs

    assert "app/resources/__init__.py" in names
    for svg in svgs:
        assert f"app/resources/{svg}" in names
    assert "app/resources/plan-runner.desktop" in names
    assert "app/resources/io.github.planrunner.PlanRunner.metainfo.xml" in names


def test_the_wheel_holds_no_tests_benchmarks_or_packaging(names):
    top_levels = {name.split("/", 1)[0] for name in names}

    assert top_levels == {"app", f"plan_runner-{app.__version__}.dist-info"}
    assert not [n for n in names if "/tests/" in n or "/bench/" in n or "conftest" in n]


def test_the_wheel_declares_the_plan_runner_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(
            f"plan_runner-{app.__version__}.dist-info/entry_points.txt"
        ).decode()

    assert "plan-runner = app.cli:main" in entry_points


def test_the_installed_wheel_finds_its_icons_and_runs(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    probe = (
        "import importlib.resources, app; "
        "icon = importlib.resources.files('app.resources') / 'plan-runner.svg'; "
        "print(app.__file__); print(icon.is_file())"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}

    found = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    version = subprocess.run(
        [sys.executable, "-m", "app", "--version"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip

    module_file, icon_found = found.stdout.split()
    assert Path(module_file).is_relative_to(target)
    assert icon_found == "True"
    assert version.stdout.strip() == f"plan-runner {app.__version__}"
