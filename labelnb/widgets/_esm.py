"""Join a widget's ES module with the shared modules it imports, at import time.

anywidget loads one self-contained module per widget. The pure helpers every widget
shares (``static/lib/*.js``: undo history, keymap, UTF-16 offsets, geometry, DOM
plumbing) are written as ordinary ES modules, so that node's test runner can import
them, and each widget module imports them with a one-line relative import::

    import { History } from "./lib/history.js";

A shared module that builds on another one imports its sibling the same way, from
``"./x.js"`` (``lib/viewport.js`` uses ``lib/geometry.js`` and ``lib/ui.js``), so
that node resolves it too. :func:`esm_source` replaces each such line by the imported
module's text (its ``export`` keywords removed), once per module, wherever it is
first imported. No npm, no build step: the files in ``static/`` are what runs.

>>> src = esm_source("box.js")
>>> "class History" in src and 'from "./lib/' not in src
True
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\./(?:lib/)?[\w.-]+\.js)";\s*$', re.M)
_EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?function|class|const|let)", re.M)


def _inline(path: Path, seen: set[Path]) -> str:
    text = path.read_text(encoding="utf-8")

    def repl(m: re.Match[str]) -> str:
        dep = (path.parent / m.group(2)).resolve()
        if not dep.is_file():
            raise FileNotFoundError(f"{path.name}: imports {m.group(2)}, which does not exist")
        if dep.parent.name != "lib":
            raise ImportError(f"{path.name}: imports {m.group(2)}; only the shared modules in "
                              "lib/ are inlined")
        first = dep not in seen
        seen.add(dep)  # before its own imports: a cycle ends here instead of recursing
        body = _EXPORT.sub("", _inline(dep, seen)) if first else ""
        for name in (n.strip() for n in m.group(1).split(",")):
            if name and not re.search(rf"\b(?:function|class|const|let)\s+{re.escape(name)}\b",
                                      dep.read_text(encoding="utf-8")):
                raise ImportError(f"{path.name}: {m.group(2)} does not define {name!r}")
        return f"// --- lib/{dep.name} (inlined) ---\n{body}" if body else ""

    return _IMPORT.sub(repl, text)


@functools.cache
def esm_source(name: str) -> str:
    """The self-contained source of ``static/<name>`` with its ``./lib`` imports inlined."""
    return _inline((STATIC / name).resolve(), set())


@functools.cache
def css_source(name: str) -> str:
    """``static/lib/common.css`` (the help overlay, sliders) followed by ``static/<name>``."""
    common = (STATIC / "lib" / "common.css").read_text(encoding="utf-8")
    return common + "\n" + (STATIC / name).read_text(encoding="utf-8")
