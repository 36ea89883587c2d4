"""The wheel: every package and every data file in it, and `rectify demo` running from a
fresh installation of it, far from any source checkout.

The wheel is built from a copy of the working tree (no ``build/`` left over from an earlier
build can slip stale files in) with the test environment's setuptools, without build
isolation, so the fast check needs no network. Installing it in a new venv takes its
dependencies from the package index (pip's cache makes a second run quicker)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workflow", "workers")
DATA_FOLDERS = ("definitions", "examples")
SHARED = "share/rectify"
# Left out of the copy the wheel is built from: environments, build output and caches.
_TOP_LEVEL_JUNK = {".git", ".venv", "build", "dist", ".pytest_cache", ".ruff_cache",
                   ".hypothesis"}
# Variables that would point the installed rectify at this repository or at a server.
_ENVIRONMENT_LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL", "BROKER_URL")


def _is_junk(name: str) -> bool:
    return name == "__pycache__" or name.endswith((".pyc", ".pyo", ".egg-info"))


def source_files(folder: str) -> list[str]:
    """The files under ``folder`` of the repository, as posix paths relative to it."""
    paths = (path.relative_to(ROOT) for path in (ROOT / folder).rglob("*") if path.is_file())
    return sorted(path.as_posix() for path in paths
                  if not any(_is_junk(part) for part in path.parts))


def _ignore(directory: str, names: list[str]) -> set[str]:
    here = Path(directory)
    return {name for name in names
            if _is_junk(name) or (here == ROOT and name in _TOP_LEVEL_JUNK)
            or (here / name / "pyvenv.cfg").is_file()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the working tree, built with ``pip wheel --no-deps`` of the test venv."""
    source = tmp_path_factory.mktemp("tree") / "rectify"
    shutil.copytree(ROOT, source, ignore=_ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(out), str(source)],
                   check=True, capture_output=True, timeout=120)
    (built,) = out.glob("rectify-*.whl")
    return built


def _clean_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name not in _ENVIRONMENT_LEAKS and not name.startswith("RECTIFY_")}
    env["COLUMNS"] = "200"  # the ledger's title on one line
    return env


def test_the_wheel_holds_every_package_and_every_data_file(wheel: Path) -> None:
    # Given the wheel built from the working tree
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    (data,) = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".data")}
    shared = {name.removeprefix(f"{data}/data/{SHARED}/") for name in names
              if name.startswith(f"{data}/data/{SHARED}/")}
    # Then every package folder (one with an __init__.py) of workflow/ and workers/ is in it
    packages = [name for folder in PACKAGES for name in source_files(folder)
                if name.endswith("/__init__.py")]
    assert len(packages) >= 10
    assert [name for name in packages if name not in names] == []
    # And every other file of theirs too: the e-mail templates, the migrations, their script
    # template, and whatever data a new subpackage brings
    assert [name for folder in PACKAGES for name in source_files(folder)
            if name not in names] == []
    assert {"workflow/notify/templates/notice.body.j2", "workflow/migrations/script.py.mako",
            "workflow/migrations/versions/0001_initial.py", "scheduler.py"} <= names
    # And the definitions and the examples, under share/rectify/
    assert [name for folder in DATA_FOLDERS for name in source_files(folder)
            if name not in shared] == []
    assert {"definitions/rectification.yaml", "definitions/calendar.yaml",
            "examples/demo/plan.yaml", "examples/huaibei-2019/ledger.xlsx"} <= shared
    # And nothing else: no tests, benchmarks or bytecode
    tops = {name.split("/")[0] for name in names} - {data}
    assert {top for top in tops if not top.endswith(".dist-info")} == {*PACKAGES, "scheduler.py"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel and its dependencies installed; yields its bin/ folder."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                   check=True, capture_output=True, timeout=240, env=_clean_environment())
    return bin_dir


@pytest.mark.processes
def test_rectify_demo_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    # Given the wheel installed in a new venv, and a working folder outside the repository
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = _clean_environment()
    # When `rectify demo` runs there
    result = subprocess.run([str(installed / "rectify"), "demo"], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=120)
    # Then it succeeds and prints the demo's ledger, the histories and the sample ledger's
    # import, from the files the wheel installed
    assert result.returncode == 0, result.stdout + result.stderr
    plan = yaml.safe_load((ROOT / "examples/demo/plan.yaml").read_text(encoding="utf-8"))
    for text in (f"整改情况清单 · {plan['plan']} · 截至", "已销号", "五个决不放过",
                 "history verified: 5 issues, 25 events, intact",
                 "huaibei-2019/ledger.xlsx", "68 issues and 10 accountability records imported"):
        assert text in result.stdout, result.stdout
    # And the definitions, the examples and the working-day calendar come from share/rectify
    # of the new venv, not from this repository
    located = subprocess.run(
        [str(installed / "python"), "-c",
         "from workflow.config import PROJECT_ROOT, Settings\n"
         "from workflow.spec.workdays import DEFAULT_CALENDAR_FILE\n"
         "print(PROJECT_ROOT, Settings.from_env().definitions_dir, DEFAULT_CALENDAR_FILE)"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=True)
    root, definitions, calendar = map(Path, located.stdout.split())
    assert root == (installed.parent / SHARED).resolve()
    assert definitions == root / "definitions" and calendar == root / "definitions/calendar.yaml"
    assert calendar.is_file() and (root / "examples/demo/evidence").is_dir()
    assert not list(workdir.iterdir())  # the demo's database went to a temporary folder
