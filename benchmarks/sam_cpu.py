"""SAM on CPU: click-to-mask latency from a cached embedding, and embedding time.

``vit_b`` is built with random weights through segment-anything's registry (no
checkpoint can be downloaded here): it has the real architecture, so the real cost.
In the same run, the baselines: the classical wand's click latency on the same image
(the no-weights fallback) and a click that has to embed first (no cache).
Target (issue 7): decoder click-to-mask < 100 ms on CPU.

    python benchmarks/sam_cpu.py                 # vit_b, 3 images, 30 clicks (~2 min)
    python benchmarks/sam_cpu.py --model vit_h --images 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    import torch
    from segment_anything import sam_model_registry
    from skimage import data

    from labelnb.segment.cache import CachedSegmenter, EmbeddingCache
    from labelnb.segment.sam import TorchSam
    from labelnb.segment.wand import ClassicalWand

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = sam_model_registry[args.model](checkpoint=None)
    build_s = time.perf_counter() - t0
    sam = TorchSam(model=model, model_id=f"{args.model}-random", device="cpu")
    coins = np.repeat(data.coins()[:, :, None], 3, axis=2)
    astro = data.astronaut()
    images = [coins, astro, coins[::-1].copy()][: max(1, args.images)]
    while len(images) < args.images:
        images.append(np.roll(astro, 37 * len(images), axis=1))

    embed_s = []
    for img in images:
        t = time.perf_counter()
        sam.embed(img)
        embed_s.append(time.perf_counter() - t)

    rng = np.random.default_rng(0)
    seg = CachedSegmenter(sam, EmbeddingCache(tempfile.mkdtemp()))
    seg(coins, np.array([[100.0, 100.0]]), np.array([1]), None)  # fill the cache (and warm up)
    decode_ms = []
    for _ in range(args.clicks):
        pt = rng.uniform([0, 0], [coins.shape[1], coins.shape[0]])
        t = time.perf_counter()
        seg(coins, pt[None], np.array([1]), None)
        decode_ms.append((time.perf_counter() - t) * 1000)
    wand = ClassicalWand()
    wand_ms = []
    for _ in range(args.clicks):
        pt = rng.uniform([0, 0], [coins.shape[1], coins.shape[0]])
        t = time.perf_counter()
        wand(coins, pt[None], np.array([1]), None)
        wand_ms.append((time.perf_counter() - t) * 1000)
    cold_ms = statistics.mean(embed_s) * 1000 + statistics.median(decode_ms)

    med = statistics.median(decode_ms)
    p90 = float(np.percentile(decode_ms, 90))
    print(f"\nSAM {args.model} (random weights, built in {build_s:.1f} s), CPU, "
          f"{torch.get_num_threads()} torch threads\n")
    print("| measure | SAM | baseline (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    print(f"| click → mask from the cached embedding, median (p90) | {med:.0f} ms ({p90:.0f}) "
          f"| {statistics.median(wand_ms):.0f} ms classical wand "
          f"| {med / statistics.median(wand_ms):.2f}× | < 100 ms "
          f"| {'yes' if med < 100 else 'no'} |")
    print(f"| first click on an image (embed + decode) | {cold_ms:.0f} ms | {med:.0f} ms cached "
          f"| {cold_ms / med:.0f}× | – | – |")
    print(f"| embedding per image, mean over {len(embed_s)} (min) | "
          f"{statistics.mean(embed_s):.2f} s ({min(embed_s):.2f}) | – | – | – | – |")


if __name__ == "__main__":
    main()
