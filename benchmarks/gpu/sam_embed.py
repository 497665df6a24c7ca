"""SAM embedding throughput on a GPU: images/s for vit_b and vit_h at batch sizes 1-16.

Random weights (segment-anything's registry, no checkpoint), so the real architecture
and cost. Run it on a machine with CUDA; it refuses to run without one. Target
(issue 7): embedding 1,000 images with vit_h on one H100/H200-class GPU in under 3
minutes (>= 5.6 images/s).

    python benchmarks/gpu/sam_embed.py [--models vit_b,vit_h] [--batches 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="vit_b,vit_h")
    ap.add_argument("--batches", default="1,2,4,8,16")
    ap.add_argument("--images", type=int, default=64, help="images timed per setting")
    ap.add_argument("--half", action="store_true", help="run the encoder in bfloat16")
    args = ap.parse_args()

    import torch
    from segment_anything import sam_model_registry

    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark runs on a GPU (see benchmarks/README.md)")
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| model | batch | images/s | s per 1,000 images | peak GPU memory |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = sam_model_registry[name](checkpoint=None).to(dev).eval()
        enc = model.image_encoder
        dtype = torch.bfloat16 if args.half else torch.float32
        enc = enc.to(dtype)
        for b in (int(x) for x in args.batches.split(",")):
            x = torch.randn(b, 3, 1024, 1024, device=dev, dtype=dtype)  # preprocessed input
            torch.cuda.reset_peak_memory_stats()
            with torch.inference_mode():
                for _ in range(2):  # warm-up
                    enc(x)
                torch.cuda.synchronize()
                n = max(1, args.images // b)
                t = time.perf_counter()
                for _ in range(n):
                    enc(x)
                torch.cuda.synchronize()
                dt = time.perf_counter() - t
            ips = n * b / dt
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(f"| {name} | {b} | {ips:.1f} | {1000 / ips:.0f} | {peak:.1f} GiB |", flush=True)
        del model, enc
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
