"""The widgets' pure ES modules under node's built-in test runner, and the keymaps'
agreement between each widget's ES module and its Python class."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "labelnb" / "widgets" / "static"


def test_js_unit_tests_pass_under_node() -> None:
    node = shutil.which("node")
    assert node, "node is missing: scripts/ensure_chromium.sh installs Debian's nodejs"
    files = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files
    r = subprocess.run([node, "--test", *map(str, files)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)", r.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert passed >= len(files)
    assert re.search(r"^# fail 0$", r.stdout, re.M)


def _js_actions(module: str, name: str = "ACTIONS") -> set[str]:
    """The action names of a ``const NAME = {...};`` block (``...OTHER`` spreads expanded)."""
    src = (STATIC / module).read_text(encoding="utf-8")
    m = re.search(rf"^(?:export )?const {name} = \{{\n(.*?)^\}};", src, re.M | re.S)
    assert m, f"{module} has no `const {name} = {{...}};` block"
    names = set(re.findall(r"^\s+(\w+): \{ keys:", m.group(1), re.M))
    for spread in re.findall(r"^\s+\.\.\.(\w+),", m.group(1), re.M):
        names |= _js_actions(module, spread)
    return names


@pytest.mark.parametrize("module, block, cls", [
    ("box.js", "ACTIONS", "labelnb.widgets.box:BoxAnnotator"),
    ("choice.js", "ACTIONS", "labelnb.widgets.choice:ChoiceAnnotator"),
    ("span.js", "ACTIONS", "labelnb.widgets.span:SpanAnnotator"),
    ("polygon.js", "POLYGON_ACTIONS", "labelnb.widgets.polygon:PolygonAnnotator"),
    ("polygon.js", "MASK_ACTIONS", "labelnb.widgets.mask:MaskAnnotator"),
    ("review.js", "ACTIONS", "labelnb.widgets.review:ReviewAnnotator")])
def test_python_and_js_name_the_same_keymap_actions(module: str, block: str, cls: str) -> None:
    import importlib

    mod, _, name = cls.partition(":")
    klass = getattr(importlib.import_module(mod), name)
    assert len(set(klass.ACTIONS)) == len(klass.ACTIONS)
    assert set(klass.ACTIONS) == _js_actions(module, block)


def test_each_widget_module_is_self_contained_after_inlining() -> None:
    from labelnb.widgets._esm import esm_source

    node = shutil.which("node")
    assert node
    for path in sorted(STATIC.glob("*.js")):
        src = esm_source(path.name)
        assert 'from "./lib/' not in src, path.name
        r = subprocess.run([node, "--input-type=module", "--check"], input=src,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{path.name}: {r.stderr[-2000:]}"


def test_an_import_of_a_missing_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    from labelnb.widgets import _esm

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.js").write_text("export function one() { return 1; }\n")
    (tmp_path / "w.js").write_text('import { one, two } from "./lib/a.js";\nexport default {};\n')
    monkeypatch.setattr(_esm, "STATIC", tmp_path)
    with pytest.raises(ImportError, match="does not define 'two'"):
        _esm._inline(tmp_path / "w.js", set())


def test_a_shared_module_may_import_its_siblings_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from labelnb.widgets import _esm

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.js").write_text("export function one() { return 1; }\n")
    (tmp_path / "lib" / "b.js").write_text(
        'import { one } from "./a.js";\nexport function two() { return one() + 1; }\n')
    (tmp_path / "w.js").write_text('import { two } from "./lib/b.js";\n'
                                   'import { one } from "./lib/a.js";\nexport default {};\n')
    monkeypatch.setattr(_esm, "STATIC", tmp_path)
    src = _esm._inline(tmp_path / "w.js", set())
    assert src.count("function one()") == 1 and src.index("function one()") < src.index("two()")
    assert "import" not in src and "export function" not in src

    (tmp_path / "x.js").write_text('import { one } from "./w.js";\n')
    with pytest.raises(ImportError, match="only the shared modules in lib/"):
        _esm._inline(tmp_path / "x.js", set())
