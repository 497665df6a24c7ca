"""A real JupyterLab and a real Chromium page on a notebook: shared by the widget
tests (tests/widgets/conftest.py) and the browser benchmarks (benchmarks/)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_MS = 60_000
KERNEL = "labelnb-tests"
#: JavaScript (a statement list) that sets ``live`` to the Bokeh models reachable from
#: the page's documents' roots (``all_models`` keeps replaced ones a while); used by the
#: dashboard's browser tests and ``benchmarks/dashboard_load.py``
BOKEH_LIVE_JS = """
  const live = [];
  for (const doc of Bokeh.documents) {
    const seen = new Set(), stack = [...doc.roots()];
    while (stack.length) {
      const m = stack.pop();
      if (seen.has(m)) continue;
      seen.add(m);
      for (const r of m.references()) stack.push(r);
    }
    live.push(...seen);
  }
"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium() -> str:
    """Debian's chromium on PATH (Playwright's own download does not work here), or a
    RuntimeError that says how to install it."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("chromium is not on PATH; scripts/ensure_chromium.sh installs it "
                           "(apt-get install chromium)")
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    url: str
    root: Path


@contextlib.contextmanager
def start_lab(root: Path, cfg: Path) -> Iterator[Lab]:
    """A JupyterLab server (no token) on a free loopback port, serving ``root``, with its
    settings, kernels and workspaces under ``cfg``; stopped on exit."""
    root.mkdir(parents=True, exist_ok=True)
    settings = cfg / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news toast, no update check
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # a kernel that runs this very interpreter (and so this checkout of labelnb)
    kdir = cfg / "share" / "kernels" / KERNEL
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "labelnb tests", "language": "python"}))
    port = _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(cfg / "settings"),
           "JUPYTER_PATH": os.pathsep.join(
               [str(cfg / "share"), *filter(None, [os.environ.get("JUPYTER_PATH")])]),
           "JUPYTERLAB_WORKSPACES_DIR": str(cfg / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(cfg / "runtime"), "PYTHONUNBUFFERED": "1"}
    log = open(cfg / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ServerApp.token=", "--ServerApp.password=", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("JupyterLab did not start:\n"
                               + (cfg / "lab.log").read_text(errors="replace")[-3000:])
        time.sleep(0.25)
    try:
        yield Lab(url, root)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()




def notebook_json(cells: list[str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8],
                   "metadata": {}, "outputs": [], "source": src} for src in cells],
        "metadata": {"kernelspec": {"display_name": "labelnb tests", "language": "python",
                                    "name": KERNEL},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


class NotebookPage:
    """A notebook opened in JupyterLab, with helpers to run cells and read outputs."""

    def __init__(self, page: Any, ncells: int, errors: list[str]) -> None:
        self.page = page
        self.ncells = ncells
        self.errors = errors  # uncaught page errors and console errors, for failure messages

    def cell(self, i: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i)

    def cell_count(self) -> int:
        return int(self.page.locator(".jp-Notebook .jp-Cell").count())

    def run_all(self) -> None:
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def run_cell(self, i: int) -> None:
        # widget state reaches the kernel asynchronously (and throttled): wait for it
        self.page.wait_for_function("() => !document.querySelector('[data-synced=\"0\"]')",
                                    timeout=TIMEOUT_MS, polling=100)
        self.page.evaluate(
            """async (i) => {
                const app = window.jupyterapp;
                const panel = app.shell.currentWidget;
                panel.content.activeCellIndex = i;
                panel.content.mode = 'command';
                await app.commands.execute('notebook:run-cell');
            }""", i)

    def output_text(self, i: int, prefix: str) -> str:
        loc = self.cell(i).locator(".jp-OutputArea-output", has_text=prefix).first
        loc.wait_for(timeout=TIMEOUT_MS)
        text = str(loc.inner_text())
        return text[text.index(prefix) + len(prefix):].strip()


def _dismiss_dialogs(page: Any) -> None:
    """Kernel choice dialog (accept the default kernel) and the news toast."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        accept = dialog.locator(".jp-mod-accept")
        if accept.count():
            accept.first.click()
    for sel in (".jp-toast-button:has-text('No')", ".Toastify__close-button"):
        btn = page.locator(sel)
        if btn.count():
            btn.first.click()


def open_notebook(browser: Any, lab: Lab, name: str, cells: list[str], pages: list[Any]
                  ) -> NotebookPage:
    """Write ``cells`` as notebook ``name`` and open it in a fresh workspace."""
    (lab.root / name).write_text(notebook_json(cells))
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(TIMEOUT_MS)
    pages.append(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" else None)
    ws = f"t{uuid.uuid4().hex[:10]}"
    page.goto(f"{lab.url}/lab/workspaces/{ws}/tree/{name}?reset")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
        timeout=TIMEOUT_MS, polling=200)
    _dismiss_dialogs(page)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        ".connectionStatus === 'connected'", timeout=TIMEOUT_MS, polling=200)
    kernel = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name")
    assert kernel == KERNEL, f"the notebook runs kernel {kernel!r}, not {KERNEL!r}"
    page.locator(".jp-Notebook .jp-Cell").nth(len(cells) - 1).wait_for()
    _dismiss_dialogs(page)
    return NotebookPage(page, len(cells), errors)
