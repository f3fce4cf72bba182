"""The installed package holds the apps and no benchmark code: benchmarks/ stays in the checkout."""

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "accounts", "projects", "privacy_requests")


def _build_backend_installed() -> bool:
    """Whether this environment has the build backend pyproject asks for (the dev extra
    installs it): then the wheel builds offline, without an isolated build environment."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    for line in pyproject["build-system"]["requires"]:
        requirement = Requirement(line)
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not requirement.specifier.contains(installed, prereleases=True):
            return False
    return True


def _wheel_names(tmp_path: Path) -> list[str]:
    # A copy of the sources: the build writes build/ and *.egg-info beside them.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for package in (*APPS, "benchmarks"):
        shutil.copytree(
            REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    isolation = ["--no-build-isolation", "--no-index"] if _build_backend_installed() else []
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", *isolation,
         "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_the_apps_and_no_benchmark_code(tmp_path):
    names = _wheel_names(tmp_path)

    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == set(APPS)
    apps = {"config/settings/base.py", "projects/models.py", "privacy_requests/tasks.py"}
    assert apps <= set(names)
    assert [name for name in names if Path(name).name.startswith("bench")] == []
