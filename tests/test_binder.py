"""binder/ builds an environment that runs the example notebooks.

mybinder (repo2docker) installs ``binder/requirements.txt`` with pip from the
repository root, runs ``binder/postBuild`` once, and ``binder/start`` on every launch.
These tests resolve the requirements with a dry-run install (through the package
indexes pip is configured with), check that the resolved environment provides every
module the notebooks import, and run ``postBuild`` and ``start`` in a temporary home.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: what the notebooks need that a static look at their imports cannot see: modules
#: labelnb imports inside the functions the notebooks call
INDIRECT = {
    "03_segmentation_wand.ipynb": {"segment-anything", "torch"},  # labelnb.segment.sam
    "08_gpu_jobs.ipynb": {"segment-anything", "torch", "datasets"},  # the jobs' bodies
    "02_ner_with_prelabels.ipynb": {"spacy"},  # labelnb.prelabel.SpacyNER
    "04_team_consensus.ipynb": {"panel", "holoviews"},  # project.dashboard()
}
#: the server Binder starts and the widgets' front end
SERVER = {"jupyterlab", "anywidget", "ipywidgets", "ipykernel"}


def _requirement_lines() -> list[str]:
    lines = []
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _local_requirement() -> tuple[str, set[str]]:
    """The line that installs labelnb from the repository, and its extras."""
    local = [x for x in _requirement_lines() if re.match(r"^(-e\s+)?\.(\[|$)", x)]
    assert len(local) == 1, f"binder/requirements.txt must install '.' once: {local}"
    m = re.search(r"\[([^\]]*)\]", local[0])
    return local[0], {e.strip() for e in m.group(1).split(",")} if m else set()


def test_binder_files_are_present() -> None:
    for name in ("requirements.txt", "postBuild", "runtime.txt", "start", "README.md"):
        assert (BINDER / name).is_file(), name


def test_runtime_satisfies_requires_python() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert m, f"runtime.txt must read python-X.Y, got {runtime!r}"
    assert m.group(1) + ".0" in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_requirements_install_labelnb_with_existing_extras() -> None:
    _, extras = _local_requirement()
    known = set(PYPROJECT["project"]["optional-dependencies"])
    assert extras, "install labelnb with the extras the notebooks need"
    assert extras <= known, f"unknown extras {sorted(extras - known)}; pyproject has {known}"
    for line in _requirement_lines():
        if not line.startswith(("-e", ".")):
            Requirement(line)  # any other line is a plain requirement


def _imports(path: Path) -> set[str]:
    """Top-level modules a notebook imports (stdlib and labelnb left out)."""
    nb = nbformat.read(path, as_version=4)
    mods: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        src = "\n".join(x for x in lines if not x.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in sys.stdlib_module_names and m != "labelnb"}


def _distributions(module: str) -> set[str]:
    found = importlib.metadata.packages_distributions().get(module)
    assert found, f"no installed distribution provides {module!r}; install the dev extras"
    return {canonicalize_name(d) for d in found}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``pip install --dry-run`` of binder/requirements.txt from the repository root,
    as repo2docker runs it: every package resolved, nothing installed."""
    report = tmp_path_factory.mktemp("binder") / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
           "--quiet", "--report", str(report), "-r", str(BINDER / "requirements.txt")]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    errors = "\n".join(x for x in proc.stderr.splitlines() if "is ignored: it is neither" not in x)
    assert proc.returncode == 0, f"binder/requirements.txt does not resolve:\n{errors[-4000:]}"
    data: dict[str, Any] = json.loads(report.read_text())
    return {canonicalize_name(i["metadata"]["name"]): i for i in data["install"]}


def test_requirements_resolve_to_an_installable_environment(resolved: dict[str, Any]) -> None:
    assert "labelnb" in resolved
    labelnb = resolved["labelnb"]
    assert labelnb["metadata"]["version"] == PYPROJECT["project"]["version"]
    _, extras = _local_requirement()
    assert set(labelnb.get("requested_extras") or []) == extras
    # the project's own pins hold in the resolved set (e.g. torch for the sam extra)
    for extra in extras:
        for spec in PYPROJECT["project"]["optional-dependencies"][extra]:
            req = Requirement(spec)
            name = canonicalize_name(req.name)
            if name == "labelnb":
                continue
            assert name in resolved, f"{req} (extra {extra!r}) is not in the environment"
            version = resolved[name]["metadata"]["version"]
            assert req.specifier.contains(version, prereleases=True), (req, version)
    missing = sorted(SERVER - resolved.keys())
    assert not missing, f"Binder needs {missing} to show the notebooks' widgets"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_environment_provides_what_each_notebook_imports(path: Path,
                                                         resolved: dict[str, Any]) -> None:
    for module in sorted(_imports(path)):
        dists = _distributions(module)
        assert dists & resolved.keys(), (f"{path.name} imports {module!r} (from {sorted(dists)}), "
                                         f"which binder/requirements.txt does not install")
    missing = sorted(INDIRECT.get(path.name, set()) - resolved.keys())
    assert not missing, f"{path.name} needs {missing}"


def test_post_build_and_start_are_executable_scripts() -> None:
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert path.stat().st_mode & stat.S_IXUSR, f"binder/{name} must be executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n"), name
        subprocess.run(["bash", "-n", str(path)], check=True)
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_post_build_and_the_badge_open_an_existing_notebook() -> None:
    texts = {"postBuild": (BINDER / "postBuild").read_text(),
             "README.md": (BINDER / "README.md").read_text()}
    for name, text in texts.items():
        targets = set(re.findall(r"notebooks/[\w.-]+\.ipynb", text))
        assert targets, f"binder/{name} names no notebook"
        for t in targets:
            assert (ROOT / t).is_file(), f"binder/{name} opens {t}, which does not exist"
    assert "01_quickstart.ipynb" in texts["postBuild"]
    assert "urlpath=lab/tree/notebooks/01_quickstart.ipynb" in texts["README.md"]


def test_post_build_and_start_run(tmp_path: Path) -> None:
    """Run the scripts as mybinder does, in a temporary home and repository folder."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(tmp_path), REPO_DIR=str(tmp_path / "repo"),
               PATH=venv_bin + os.pathsep + env.get("PATH", ""))
    assert shutil.which("labelnb", path=env["PATH"]) is not None, (
        "the labelnb command is not next to this Python: install the package "
        "(make venv, or pip install -e '.[all,dev]')")
    (tmp_path / "repo").mkdir()
    subprocess.run(["bash", str(BINDER / "postBuild")], cwd=tmp_path / "repo", env=env,
                   check=True, capture_output=True, timeout=300)
    config = (tmp_path / ".jupyter" / "jupyter_server_config.py").read_text()
    assert 'c.ServerApp.default_url = "/lab/tree/notebooks/01_quickstart.ipynb"' in config
    db = tmp_path / "repo" / "demo-project" / "labels.db"
    assert db.is_file()
    out = subprocess.run(["bash", str(BINDER / "start"), "sh", "-c", 'echo "$LABELNB_DEMO_DB"'],
                         cwd=tmp_path / "repo", env=env, check=True, capture_output=True,
                         text=True, timeout=60).stdout.strip()
    assert out == str(db)

    import labelnb

    assert sorted(labelnb.projects(db)) == ["images", "ner"]
