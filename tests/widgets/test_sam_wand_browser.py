"""The mask widget's wand with a tiny SAM wired in, in a real JupyterLab + Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("segment_anything")  # the [sam] extra

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
TIMEOUT_MS = 120_000

CELLS = [
    """import json
import numpy as np
from skimage import data
from labelnb.segment.cache import CachedSegmenter
from labelnb.segment.sam import TorchSam, tiny_sam
from labelnb.widgets import MaskAnnotator
coins = np.repeat(data.coins()[:, :, None], 3, axis=2)
sam = CachedSegmenter(TorchSam(model=tiny_sam(seed=0), model_id="tiny-browser"))
w = MaskAnnotator(coins, labels=["coin"], segment_fn=sam)
w""",
    """print("SAM:" + json.dumps({"n": len(w.annotations),
      "size": [list(m.size) for m in w.annotations],
      "pixels": [int(m.to_array().sum()) for m in w.annotations],
      "encoder_calls": sam.segmenter.encoder_calls, "timing": sorted(sam.last_timing_ms)}))""",
]


def test_a_wand_click_with_tiny_sam_gives_a_mask(open_notebook: Any) -> None:
    nb = open_notebook("sam_wand.ipynb", CELLS)
    nb.run_all()
    widget = nb.page.locator(".lnb-mask[data-ready='1']")
    widget.wait_for(timeout=TIMEOUT_MS)
    canvas = widget.locator("canvas")
    r = canvas.bounding_box()
    nb.page.mouse.click(r["x"] + 2, r["y"] + 2, button="middle")  # focus
    nb.page.keyboard.press("w")
    for fx, fy in ((0.4, 0.42), (0.45, 0.45)):  # two clicks: the second refines the first
        nb.page.mouse.click(r["x"] + fx * r["width"], r["y"] + fy * r["height"])
        nb.page.wait_for_function(
            "() => { const e = document.querySelector('.lnb-mask');"
            " return e.dataset.wandDone === e.dataset.wandSeq && +e.dataset.candidates > 0; }",
            timeout=TIMEOUT_MS)
    widget.screenshot(path=str(Path(__file__).parent / "screenshots" / "sam_wand.png"))
    nb.page.keyboard.press("Enter")  # accept the best candidate
    nb.page.locator(".lnb-mask[data-objects='1']").wait_for(timeout=TIMEOUT_MS)
    nb.run_cell(1)
    out = json.loads(nb.output_text(1, "SAM:"))
    assert out["n"] == 1 and out["size"] == [[303, 384]], (out, nb.errors)
    assert out["pixels"][0] > 0
    assert out["encoder_calls"] == 1  # the second click reused the cached embedding
    assert out["timing"] == ["decode", "embed"]
