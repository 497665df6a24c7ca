"""Box widget speed in a real JupyterLab + Chromium, and auto-fit quality.

Measures, printing one table with the baseline measured in the same run:

* **Enter → next image painted** on 4000×3000 JPEGs: the time from the keydown of
  Enter (submit) to the next image drawn on the canvas, through the real kernel (the
  session stores the annotation, claims the next task and shows it). With prefetch
  (the default: the next image is encoded and pushed while the current one is open)
  against the same session with ``prefetch=False``. Target: median < 150 ms.
* **Frame time while dragging** a box with 200 boxes on the canvas: the time the
  browser spends handling each pointer move (hit test, move, redraw of the image and
  all 200 boxes), measured around each event, against the same drag with no other
  boxes. Target: < 16 ms.
* **Auto-fit IoU gain** on rough boxes around the coins of ``skimage.data.coins()``
  (reference boxes from scikit-image's own watershed recipe; each side of a rough box
  moved by up to 10/20/30 % of the box size). Target: ≥ +5 points of IoU.

    python benchmarks/widget_interaction.py            # about 2 minutes
    python benchmarks/widget_interaction.py --items 8 --moves 60   # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "widgets"))
sys.path.insert(0, str(Path(__file__).parent))

from _coins import coin_boxes, iou, rough  # noqa: E402
from harness import CHROMIUM_ARGS, find_chromium, open_notebook, start_lab  # noqa: E402


def make_jpegs(folder: Path, n: int, w: int = 4000, h: int = 3000) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        base = np.stack([(xx * 7 + i * 40) % 256, (yy * 5) % 256, (xx + yy) % 256], axis=-1)
        noise = rng.integers(0, 40, (h, w, 1))
        arr = np.clip(base + noise, 0, 255).astype(np.uint8)
        p = folder / f"img{i:03d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        paths.append(str(p))
    return paths


ENTER_TO_PAINT = """async () => {
  const root = document.querySelector('.lnb-box');
  const key0 = root.dataset.paintedAt;
  const t0 = performance.now();
  root.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
  while (!(Number(root.dataset.paintedAt) > t0) || root.dataset.ready !== '1') {
    await new Promise((r) => requestAnimationFrame(r));
    if (performance.now() - t0 > 30000) return -1;
  }
  return {ms: Number(root.dataset.paintedAt) - t0, prefetched: root.dataset.prefetched === '1'};
}"""


def enter_to_paint(browser: Any, lab: Any, paths: list[str], prefetch: bool, pages: list[Any]
                   ) -> list[dict[str, Any]]:
    db = Path(tempfile.mkdtemp()) / "bench.db"
    cells = [f"""import labelnb
project = labelnb.Project.create({str(db)!r}, "bench", labelnb.Schema("boxes", ["car", "bus"]))
project.add_items({paths!r})
w = project.annotate("ana", prefetch={prefetch!r})
w"""]
    nb = open_notebook(browser, lab, f"enter_{prefetch}.ipynb", cells, pages)
    nb.run_all()
    nb.page.locator(".lnb-box[data-ready='1']").wait_for(timeout=120_000)
    nb.page.wait_for_timeout(1500)  # let the first prefetch land, as a person would look
    out = []
    for _ in range(len(paths) - 1):
        r = nb.page.evaluate(ENTER_TO_PAINT)
        out.append(r)
        nb.page.wait_for_timeout(1000)  # the annotator works on the item
    return out


DRAG = """async ({moves}) => {
  const root = document.querySelector('.lnb-box');
  const canvas = root.querySelector('canvas');
  const r = canvas.getBoundingClientRect();
  const at = (fx, fy) => ({clientX: r.left + fx * r.width, clientY: r.top + fy * r.height,
                           bubbles: true, pointerId: 1, button: 0, buttons: 1});
  // press on the box at (0.45..0.55, 0.45..0.55), drag it around
  canvas.dispatchEvent(new PointerEvent('pointerdown', at(0.5, 0.5)));
  const times = [];
  for (let i = 0; i < moves; i++) {
    const fx = 0.5 + 0.2 * Math.sin(i / 10), fy = 0.5 + 0.2 * Math.cos(i / 10);
    const t0 = performance.now();
    canvas.dispatchEvent(new PointerEvent('pointermove', at(fx, fy)));
    times.push(performance.now() - t0);
    await new Promise((res) => requestAnimationFrame(res));
  }
  canvas.dispatchEvent(new PointerEvent('pointerup', at(0.5, 0.5)));
  return times;
}"""


def drag_frames(browser: Any, lab: Any, n_boxes: int, moves: int, pages: list[Any]
                ) -> list[float]:
    rng = np.random.default_rng(1)
    boxes = [(2000 - 200, 1500 - 150, 2000 + 200, 1500 + 150)]
    while len(boxes) < n_boxes + 1:
        x, y = rng.uniform(0, 3600), rng.uniform(0, 2700)
        boxes.append((x, y, x + rng.uniform(40, 400), y + rng.uniform(40, 300)))
    cells = [f"""import numpy as np
from labelnb.widgets import BoxAnnotator
from labelnb import Box
yy, xx = np.mgrid[0:3000, 0:4000]
arr = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
boxes = [Box(float(a), float(b), float(c), float(d), "car") for a, b, c, d in {boxes!r}]
# the dragged box last, so that it is the topmost one under the pointer
w = BoxAnnotator(arr, labels=["car", "bus"], annotations=boxes[1:] + boxes[:1])
w"""]
    nb = open_notebook(browser, lab, f"drag_{n_boxes}.ipynb", cells, pages)
    nb.run_all()
    nb.page.locator(".lnb-box[data-ready='1']").wait_for(timeout=120_000)
    return list(nb.page.evaluate(DRAG, {"moves": moves}))


def autofit_gain(repeats: int = 5) -> list[tuple[float, float, float, float, float]]:
    from labelnb.segment.autofit import autofit_box
    from labelnb.types import Box

    img, refs = coin_boxes()
    rng = np.random.default_rng(0)
    rows = []
    for jitter in (0.1, 0.2, 0.3):
        before, after, ms = [], [], []
        for _ in range(repeats):
            for gt in refs:
                r = rough(gt, rng, jitter, img.shape[1], img.shape[0])
                t0 = time.perf_counter()
                f, _ = autofit_box(img, Box(*r, "coin"))
                ms.append((time.perf_counter() - t0) * 1000)
                before.append(iou(r, gt))
                after.append(iou((f.x0, f.y0, f.x1, f.y1), gt))
        rows.append((jitter, float(np.mean(before)), float(np.mean(after)),
                     float(np.median(after)), float(np.median(ms))))
    return rows


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, float), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=12, help="4000x3000 JPEGs per session")
    ap.add_argument("--boxes", type=int, default=200)
    ap.add_argument("--moves", type=int, default=120)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    try:
        exe = find_chromium()
    except RuntimeError as e:
        sys.exit(str(e))
    work = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    paths = make_jpegs(work, args.items)
    print(f"made {args.items} 4000x3000 JPEGs in {time.perf_counter() - t0:.1f} s", flush=True)
    fit = autofit_gain()
    pages: list[Any] = []
    with start_lab(work / "root", work / "cfg") as lab, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        with_pf = enter_to_paint(browser, lab, paths, True, pages)
        without_pf = enter_to_paint(browser, lab, paths, False, pages)
        frames = drag_frames(browser, lab, args.boxes, args.moves, pages)
        frames0 = drag_frames(browser, lab, 0, args.moves, pages)
        browser.close()
    ms_pf = [r["ms"] for r in with_pf]
    ms_no = [r["ms"] for r in without_pf]
    hits = sum(1 for r in with_pf if r["prefetched"])
    med_pf, med_no = statistics.median(ms_pf), statistics.median(ms_no)
    med_f, med_f0 = statistics.median(frames), statistics.median(frames0)
    print()
    print("| measure | labelnb | baseline (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    print(f"| Enter → next 4000×3000 image painted, median (p90) | {med_pf:.0f} ms "
          f"({pct(ms_pf, 90):.0f}) with prefetch ({hits}/{len(with_pf)} from the pushed copy) "
          f"| {med_no:.0f} ms ({pct(ms_no, 90):.0f}) without prefetch | {med_pf / med_no:.2f}× "
          f"| < 150 ms | {'yes' if med_pf < 150 else 'no'} |")
    print(f"| pointer-move handling while dragging, {args.boxes} boxes, median (p95) "
          f"| {med_f:.2f} ms ({pct(frames, 95):.2f}) | {med_f0:.2f} ms ({pct(frames0, 95):.2f}) "
          f"with no other boxes | {med_f / max(med_f0, 1e-9):.2f}× | < 16 ms "
          f"| {'yes' if pct(frames, 95) < 16 else 'no'} |")
    for jitter, before, after, median_after, ms in fit:
        gain = (after - before) * 100
        print(f"| auto-fit on coins, sides moved ≤ {jitter:.0%}: mean IoU (median after; "
              f"{ms:.1f} ms per fit) | {after:.3f} ({median_after:.3f}) | {before:.3f} rough box "
              f"| +{gain:.1f} points | ≥ +5 points | {'yes' if gain >= 5 else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"enter_prefetch": with_pf, "enter_plain": without_pf,
                                         "drag": frames, "drag0": frames0, "autofit": fit}))


if __name__ == "__main__":
    main()
