"""The team-lead dashboard: queue status, throughput, annotator quality, agreement
and a disagreement browser, as a Panel app that refreshes itself.

In a notebook::

    project.dashboard()                      # or labelnb.dashboard.show(project)

From a shell::

    labelnb dashboard labels.db --name pets --port 5006

The numbers are plain DataFrames in :mod:`labelnb.dashboard.data` (testable without
Panel); agreement on boxes, polygons, masks and spans counts the geometry, as
``project.consensus()`` does. Panel and HoloViews come with
``pip install 'labelnb[dashboard]'``; without them :func:`build` raises
:class:`~labelnb.errors.MissingExtra`. The dashboard only reads: it never queues
tasks or changes annotator profiles.

Loading fast (``benchmarks/dashboard_load.py``): the numbers of a project are computed
once per change and shared by the sessions (:func:`~labelnb.dashboard.data.cached_summary`;
:func:`serve` computes them as it starts); a served page is sent at once and filled
when the browser has loaded it, the data being read meanwhile; and each tab's charts
are drawn when the tab is first shown.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelnb.dashboard.app import Dashboard
    from labelnb.project import Project

DEFAULT_REFRESH_S = 10.0


def dashboard(project: Project, *, refresh_s: float | None = DEFAULT_REFRESH_S,
              top_n: int = 20) -> Dashboard:
    """The :class:`~labelnb.dashboard.app.Dashboard` object (its ``layout`` is the
    Panel object; ``refresh()`` re-reads the project)."""
    from labelnb.dashboard.app import Dashboard

    return Dashboard(project, refresh_s=refresh_s, top_n=top_n)


def build(project: Project, *, refresh_s: float | None = DEFAULT_REFRESH_S,
          top_n: int = 20) -> Any:
    """The dashboard of ``project`` as a Panel layout (re-reads the project every
    ``refresh_s`` seconds once displayed or served; ``None``: never)."""
    return dashboard(project, refresh_s=refresh_s, top_n=top_n).layout


def project_dashboard(project: Project, **kw: Any) -> Any:
    """Same as :func:`build` (for inline use in a notebook cell)."""
    return build(project, **kw)


def show(project: Project, **kw: Any) -> Any:
    """The dashboard for display in a notebook: loads Panel's notebook extension
    (its JavaScript inline, so no CDN is needed) and returns the Panel object."""
    from labelnb.dashboard.app import require

    pn, _ = require()
    pn.extension(inline=True)
    return build(project, **kw)


def _prewarm(db: str, name: str | None, browse: tuple[str, int] | None = None) -> None:
    """Compute the dashboard's numbers once as the server starts, so the first session
    finds them cached (sessions recompute only when the project changed since; one
    opened meanwhile waits for this read instead of making its own). ``browse``
    (host, port): then open the page in a web browser, once the server listens, so
    the first page a lead sees is drawn from these numbers at once."""
    import labelnb
    from labelnb.dashboard.data import cached_summary

    try:
        project = labelnb.open(db, name)
        try:
            cached_summary(project)
        finally:
            project.close()
    except Exception:  # the session computes them itself; never kill the server
        logging.getLogger("labelnb").exception("labelnb dashboard: prewarming failed")
    if browse is not None:
        import socket
        import time
        import webbrowser

        host, port = browse
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a threaded server may not listen yet
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        shown = f"[{host}]" if ":" in host else host
        webbrowser.open(f"http://{shown}:{port}/dashboard")


def _browse_host(address: str | None) -> str:
    """Where a browser on this machine reaches a server bound to ``address``."""
    return "localhost" if address in (None, "", "0.0.0.0", "::") else str(address)


def _free_port(address: str | None) -> int:
    import socket

    family, kind, proto, _, where = socket.getaddrinfo(
        address or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as s:
        s.bind(where)
        return int(s.getsockname()[1])


def serve(db: str, name: str | None = None, *, port: int = 0, show: bool = True,
          threaded: bool = False, address: str | None = None,
          refresh_s: float | None = DEFAULT_REFRESH_S) -> Any:
    """Serve the dashboard of the project in ``db`` with Panel's server (one project
    handle per browser session). ``port=0`` picks a free port. ``show`` opens the page
    in a web browser once the numbers are computed (the server answers before that: a
    page opened earlier waits for them). Returns the server (a thread when
    ``threaded``; otherwise it blocks until interrupted)."""
    from labelnb.dashboard.app import require, served_layout

    pn, _ = require()
    import labelnb

    labelnb.open(db, name).close()  # fail now (not in the first session) on a bad db/name
    if show and not port:
        port = _free_port(address)  # the browser is opened by the prewarm: it needs the port
    browse = (_browse_host(address), port) if show else None
    threading.Thread(target=_prewarm, args=(db, name, browse),
                     name="labelnb-dashboard-prewarm", daemon=True).start()

    def app() -> Any:
        project = labelnb.open(db, name)
        pn.state.on_session_destroyed(lambda _ctx: project.close())
        # the page (and its JavaScript) goes out at once; the data is read meanwhile
        return served_layout(project, refresh_s=refresh_s)

    kw: dict[str, Any] = {"address": address} if address else {}
    return pn.serve({"dashboard": app}, port=port, show=False, threaded=threaded,
                    title="labelnb dashboard", start=True, **kw)


__all__ = ["build", "dashboard", "project_dashboard", "serve", "show"]
