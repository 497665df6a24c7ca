"""Export throughput: labelnb's COCO and YOLO writers against Datumaro and a bare dump.

One run, on synthetic data built in memory: ``--images`` image records (100,000; file
names and sizes only) with ``--boxes-per-image`` labelnb ``Box`` regions each (10, so
1,000,000 boxes), random within their image, over ``--classes`` labels (8). Every
measurement runs in its own fresh subprocess, so the peak RSS it reports
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the wall time is
``time.perf_counter`` around the measured call only (no tracemalloc, no profiler).
Each child first builds its input (same seed, same data), collects garbage, notes its
RSS, then times:

* **labelnb COCO**: ``labelnb.formats.coco.save_coco(Dataset, root, media="none")``,
  the call ``export()`` makes for COCO: ``to_coco`` (labelnb types to the COCO dict)
  and ``orjson.dumps`` of it to ``annotations.json``. Not timed: ``export()``'s
  reading of the project database, its validation pass (reading the file back,
  pycocotools) and image copying.
* **bare json.dump** (the floor): ``json.dump(d, f)`` of the final COCO dict, built
  before the clock starts with plain dict/list code (no labelnb); also
  ``json.dumps`` and ``orjson.dumps`` of the same dict, each written to a file. The
  orjson file must be byte-identical to labelnb's (checked by SHA-256), so the floor
  writes exactly labelnb's output. Note that ``json.dump`` (to a file) runs the
  *pure-Python* encoder (CPython uses its C encoder only for ``json.dumps``), so it
  is a loose floor; the orjson row is the tight one.
* **labelnb YOLO**: ``labelnb.formats.yolo.save_yolo(Dataset, root, media="symlink")``:
  one label file per image plus ``data.yaml``. ``save_yolo`` refuses
  ``media="none"`` (YOLO finds a label file from its image path) and needs a source
  image per record, so every record points at one tiny placeholder PNG and the
  writer symlinks it (100,000 symlinks; no image bytes are copied). A second row
  times ``to_yolo`` alone (the label text, no file system).
* **Datumaro COCO**: a ``datumaro.Dataset`` of the same items and ``Bbox``
  annotations (built and cached before the clock starts), then
  ``dataset.export(dir, "coco_instances", save_media=False)``. Datumaro is a
  test-only comparison and is not installed in labelnb's environment: this part runs
  under another interpreter (``--datumaro-python``, default
  ``/tmp/dmenv/bin/python``; create it with ``python3 -m venv /tmp/dmenv &&
  /tmp/dmenv/bin/pip install datumaro``). This file imports only the standard library
  at module level so that it runs there too.

Targets (from the issue): labelnb COCO >= 5x faster than Datumaro's COCO export, and
within 2x of the bare ``json.dump``. If the second fails (or with ``--profile``), the
COCO export is profiled (cProfile, ``--profile-images`` images) and the top functions
are printed. ``--extra`` adds rows that split the costs (``to_coco`` and
``orjson.dumps`` apart, the COCO export with the garbage collector off, ``to_yolo``
without file IO).

Run from the repository root::

    .venv/bin/python benchmarks/export_formats.py             # 100k images, 1M boxes
    .venv/bin/python benchmarks/export_formats.py --quick     # 5k images, 50k boxes
    .venv/bin/python benchmarks/export_formats.py --skip-datumaro

The Markdown tables go to stdout, progress to stderr. Output folders live in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
DEFAULT_DM_PYTHON = "/tmp/dmenv/bin/python"
SIZES = ((640, 480), (800, 600), (1024, 768), (1280, 720), (1920, 1080), (512, 512))
# a 1x1 grey PNG: the placeholder every YOLO record symlinks
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63680000008200816cfa8ef40000000049454e44ae426082")


# --- synthetic data (standard library only: the same in every interpreter) -----------


Raw = tuple[list[tuple[int, str, int, int]], list[list[tuple[float, float, float, float, int]]],
            list[str]]


def make_data(n_images: int, per_image: int, n_classes: int, seed: int) -> Raw:
    """Image rows ``(id, file_name, width, height)``, and per image its boxes
    ``(x0, y0, x1, y1, class_index)`` (two decimals, inside the image, at least 1 px)."""
    rng = random.Random(seed)
    classes = [f"class_{i}" for i in range(n_classes)]
    images = []
    boxes = []
    uniform, randrange = rng.uniform, rng.randrange
    for i in range(n_images):
        w, h = SIZES[randrange(len(SIZES))]
        images.append((i + 1, f"img_{i:07d}.jpg", w, h))
        row = []
        for _ in range(per_image):
            x0 = round(uniform(0, w - 2), 2)
            y0 = round(uniform(0, h - 2), 2)
            x1 = round(uniform(x0 + 1, w), 2)
            y1 = round(uniform(y0 + 1, h), 2)
            row.append((x0, y0, x1, y1, randrange(n_classes)))
        boxes.append(row)
    return images, boxes, classes


def plain_coco_dict(raw: Raw) -> dict[str, Any]:
    """The COCO dict labelnb's ``to_coco`` writes for this data, built with plain code."""
    images, boxes, classes = raw
    imgs = [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images]
    anns = []
    n = 0
    for (iid, _f, _w, _h), row in zip(images, boxes, strict=True):
        for x0, y0, x1, y1, c in row:
            n += 1
            anns.append({"id": n, "image_id": iid, "category_id": c + 1, "iscrowd": 0,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                         "segmentation": []})
    return {"info": {"description": "exported by labelnb"}, "images": imgs,
            "annotations": anns,
            "categories": [{"id": k + 1, "name": c, "supercategory": ""}
                           for k, c in enumerate(classes)]}


def proto_save_coco(ds: Any, root: Path, *, gc_off: bool) -> Path:
    """A benchmark-only prototype of the fixes suggested for ``to_coco`` (labelnb is not
    changed): a dict for the category ids instead of ``list(categories).index`` per
    region, no error-message f-strings built per region, a ``Box`` fast path that
    reads the four corners once, and (``gc_off``) the cyclic garbage collector paused
    while the million small dicts are built. Writes the same bytes as ``save_coco``."""
    import orjson

    from labelnb.formats.coco import region_to_coco
    from labelnb.types import Box

    ids = {n: i + 1 for i, n in enumerate(ds.categories)}
    imgs: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    was = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        n = 0
        for im in ds.images:
            iid = im.id
            imgs.append({"id": iid, "file_name": im.file_name, "width": im.width,
                         "height": im.height})
            for r in ds.regions.get(iid, ()):
                n += 1
                if type(r) is Box and r.score is None and not r.attributes:
                    x0, y0 = r.x0, r.y0
                    w, h = r.x1 - x0, r.y1 - y0
                    anns.append({"id": n, "image_id": iid, "category_id": ids[r.label],
                                 "iscrowd": 0, "bbox": [x0, y0, w, h], "area": w * h,
                                 "segmentation": []})
                else:
                    anns.append(region_to_coco(r, im, ids[r.label], n))
    finally:
        if was:
            gc.enable()
    out = {"info": {"description": "exported by labelnb"}, "images": imgs, "annotations": anns,
           "categories": [{"id": ids[c], "name": c, "supercategory": ""}
                          for c in ds.categories]}
    path = root / "annotations.json"
    root.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY))
    return path


def labelnb_dataset(raw: Raw, uri: str | None = None) -> Any:
    from labelnb.formats import Dataset, ImageRecord
    from labelnb.types import Box

    images, boxes, classes = raw
    recs = [ImageRecord(i, f, w, h, uri=uri) for i, f, w, h in images]
    regions = {i: [Box(x0, y0, x1, y1, classes[c]) for x0, y0, x1, y1, c in row]
               for (i, _f, _w, _h), row in zip(images, boxes, strict=True)}
    return Dataset(recs, regions, list(classes))


# --- child side ----------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under root (symlinks not followed)."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                total += os.path.getsize(p)
                files += 1
    return total, files


def timed(fn: Callable[[], Any]) -> tuple[float, Any, float, float]:
    """(seconds, result, RSS before in MB, peak RSS in MB) of one call."""
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    return dt, out, before, peak_mb()


def child(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    raw = make_data(a.images, a.boxes_per_image, a.classes, a.seed)
    out = Path(a.workdir) / kind
    res: dict[str, Any] = {"kind": kind}
    if kind in ("labelnb-coco", "labelnb-coco-nogc"):
        from labelnb.formats.coco import save_coco

        ds = labelnb_dataset(raw)
        del raw
        if kind == "labelnb-coco-nogc":
            gc.collect()
            gc.disable()
        dt, files, before, peak = timed(lambda: save_coco(ds, out, media="none"))
        gc.enable()
        res.update(bytes=files[0].stat().st_size, sha256=sha256_file(files[0]))
    elif kind in ("proto-coco", "proto-coco-nogc"):
        ds = labelnb_dataset(raw)
        del raw
        dt, path, before, peak = timed(
            lambda: proto_save_coco(ds, out, gc_off=kind == "proto-coco-nogc"))
        res.update(bytes=path.stat().st_size, sha256=sha256_file(path))
    elif kind == "labelnb-coco-parts":  # to_coco and the serialization, apart
        import orjson

        from labelnb.formats.coco import to_coco

        ds = labelnb_dataset(raw)
        del raw
        dt, d, before, peak = timed(lambda: to_coco(ds.images, ds.regions, ds.categories))
        t1, blob, _b, peak2 = timed(lambda: orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY))
        res.update(to_coco_s=dt, orjson_s=t1, bytes=len(blob))
        dt, peak = dt + t1, max(peak, peak2)
    elif kind in ("floor-json", "floor-jsondumps", "floor-orjson"):
        d = plain_coco_dict(raw)
        del raw
        out.mkdir(parents=True)
        path = out / "annotations.json"
        if kind == "floor-json":
            def dump() -> None:
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(d, f)
        elif kind == "floor-jsondumps":
            def dump() -> None:
                path.write_text(json.dumps(d), encoding="utf-8")
        else:
            import orjson

            def dump() -> None:
                path.write_bytes(orjson.dumps(d))
        dt, _, before, peak = timed(dump)
        res.update(bytes=path.stat().st_size, sha256=sha256_file(path))
    elif kind == "labelnb-yolo":
        from labelnb.formats.yolo import save_yolo

        src = Path(a.workdir) / "placeholder.png"
        if not src.exists():
            src.write_bytes(PNG_1x1)
        ds = labelnb_dataset(raw, uri=str(src))
        del raw
        dt, _, before, peak = timed(lambda: save_yolo(ds, out, media="symlink"))
        size, nfiles = tree_size(out)
        res.update(bytes=size, files=nfiles)
    elif kind == "labelnb-yolo-text":
        from labelnb.formats.yolo import to_yolo

        ds = labelnb_dataset(raw)
        del raw

        def texts() -> int:
            return sum(len(to_yolo(ds.regions[im.id], im.width, im.height, ds.categories,
                                   where=im.file_name)) for im in ds.images)
        dt, n, before, peak = timed(texts)
        res.update(bytes=n)
    elif kind == "datumaro-coco":
        dt, before, peak = datumaro_child(raw, out, res)
    elif kind == "profile-coco":
        import cProfile
        import io
        import pstats

        from labelnb.formats.coco import save_coco

        images, boxes, classes = raw
        n = min(a.profile_images, len(images))
        ds = labelnb_dataset((images[:n], boxes[:n], classes))
        del raw, images, boxes
        prof = cProfile.Profile()
        gc.collect()
        before = rss_mb()
        t0 = time.perf_counter()
        prof.runcall(save_coco, ds, out, media="none")
        dt = time.perf_counter() - t0
        peak = peak_mb()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(18)
        res.update(profile=buf.getvalue(), profile_images=n)
    else:
        raise SystemExit(f"unknown child {kind!r}")
    res.update(seconds=dt, rss_before_mb=before, peak_mb=peak)
    return res


def datumaro_child(raw: Raw, out: Path, res: dict[str, Any]) -> tuple[float, float, float]:
    import logging

    import datumaro
    from datumaro.components.annotation import Bbox
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    logging.getLogger().setLevel(logging.ERROR)
    images, boxes, classes = raw
    items = []
    n = 0
    for (iid, fname, w, h), row in zip(images, boxes, strict=True):
        anns = []
        for x0, y0, x1, y1, c in row:
            n += 1
            anns.append(Bbox(x0, y0, x1 - x0, y1 - y0, label=c, id=n))
        items.append(DatasetItem(id=fname.rsplit(".", 1)[0], subset="default",
                                 media=Image.from_file(path=fname, size=(h, w)),
                                 annotations=anns, attributes={"id": iid}))
    del raw, images, boxes
    ds = Dataset.from_iterable(items, categories=list(classes))
    del items
    ds.init_cache()  # materialize before the clock starts: only the export is timed
    dt, _, before, peak = timed(lambda: ds.export(str(out), "coco_instances",
                                                  save_media=False))
    files = sorted(out.rglob("*.json"))
    ann_file = next(f for f in files if f.name.startswith("instances_"))
    d = json.loads(ann_file.read_bytes())
    res.update(bytes=ann_file.stat().st_size, version=datumaro.__version__,
               n_images=len(d["images"]), n_annotations=len(d["annotations"]))
    return dt, before, peak


# --- parent side ---------------------------------------------------------------------


def run_children(jobs: list[tuple[str, str]], a: argparse.Namespace
                 ) -> dict[str, dict[str, Any]]:
    """``--repeat`` rounds over all ``(kind, python)`` jobs, interleaved (so a burst of
    load on the machine hits every row alike); per kind the fastest run, with the
    largest peak."""
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k, _ in jobs}
    for rnd in range(max(1, a.repeat)):
        if a.repeat > 1:
            print(f"[export_formats] round {rnd + 1}/{a.repeat}, load average "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        for kind, python in jobs:
            if runs[kind] and "error" in runs[kind][0]:
                continue
            runs[kind].append(run_child_once(kind, a, python))
    return {k: combine(v) for k, v in runs.items()}


def run_child(kind: str, a: argparse.Namespace, python: str) -> dict[str, Any]:
    return run_children([(kind, python)], a)[kind]


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [x for x in runs if "error" in x]
    if bad:
        return bad[0]
    best = dict(min(runs, key=lambda x: x["seconds"]))
    best["peak_mb"] = max(x["peak_mb"] for x in runs)
    best["all_seconds"] = [round(x["seconds"], 3) for x in runs]
    return best


def run_child_once(kind: str, a: argparse.Namespace, python: str) -> dict[str, Any]:
    cmd = [python, str(HERE), "--child", kind, "--images", str(a.images),
           "--boxes-per-image", str(a.boxes_per_image), "--classes", str(a.classes),
           "--seed", str(a.seed), "--workdir", a.workdir,
           "--profile-images", str(a.profile_images)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    print(f"[export_formats] {kind} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        print(f"[export_formats] {kind} failed: {' | '.join(tail)}", file=sys.stderr)
        return {"kind": kind, "error": " ".join(tail)[-300:]}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"[export_formats] {kind}: {res['seconds']:.2f} s timed, peak {res['peak_mb']:.0f} MB"
          f" ({time.perf_counter() - t0:.0f} s with setup)", file=sys.stderr, flush=True)
    shutil.rmtree(Path(a.workdir) / kind, ignore_errors=True)
    return res


def datumaro_python(a: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter for the Datumaro part, or None and why it cannot run."""
    py = a.datumaro_python
    if not Path(py).exists():
        return None, (f"no interpreter at {py}; create it with python3 -m venv /tmp/dmenv && "
                      "/tmp/dmenv/bin/pip install datumaro")
    p = subprocess.run([py, "-c", "import datumaro; print(datumaro.__version__)"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, "import datumaro failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return py, p.stdout.strip()


def fmt_s(v: float) -> str:
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=None, help="images (default 100,000)")
    ap.add_argument("--boxes-per-image", type=int, default=10)
    ap.add_argument("--classes", type=int, default=8, help="labels (5-10 in the issue)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5,000 images")
    ap.add_argument("--skip-datumaro", action="store_true")
    ap.add_argument("--datumaro-python", default=DEFAULT_DM_PYTHON)
    ap.add_argument("--no-profile", action="store_true", help="never run the cProfile pass")
    ap.add_argument("--profile", action="store_true", help="run the cProfile pass anyway")
    ap.add_argument("--profile-images", type=int, default=20_000,
                    help="images in the cProfile pass (cProfile slows the run ~2x)")
    ap.add_argument("--extra", action="store_true",
                    help="also time to_coco / orjson apart, COCO with gc off, YOLO text only")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each measurement this many times (fresh processes); report the "
                    "fastest time and the largest peak")
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.images is None:
        a.images = 5_000 if a.quick else 100_000
    if a.child:
        print(json.dumps(child(a.child, a)))
        return

    tmp = tempfile.mkdtemp(prefix="labelnb-export-bench-")
    a.workdir = tmp
    try:
        report(a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(a: argparse.Namespace) -> None:
    py = sys.executable
    n_boxes = a.images * a.boxes_per_image
    kinds = ["labelnb-coco", "floor-json", "floor-jsondumps", "floor-orjson", "labelnb-yolo"]
    if a.extra:
        kinds[1:1] = ["labelnb-coco-parts", "labelnb-coco-nogc"]
        kinds += ["labelnb-yolo-text", "proto-coco", "proto-coco-nogc"]
    jobs = [(k, py) for k in kinds]
    dm_note = "skipped (--skip-datumaro)"
    dm_py: str | None = None
    if not a.skip_datumaro:
        dm_py, info = datumaro_python(a)
        if dm_py is None:
            dm_note = f"datumaro not installable here: {info}"
        else:
            jobs.insert(1, ("datumaro-coco", dm_py))
    load0 = os.getloadavg()[0]
    r = run_children(jobs, a)
    load1 = os.getloadavg()[0]
    if dm_py is not None:
        dm_note = (f"datumaro {info}" if "error" not in r["datumaro-coco"] else
                   f"datumaro {info} failed: {r['datumaro-coco']['error']}")

    def ok(k: str) -> bool:
        return k in r and "error" not in r[k]

    base = r["floor-json"]["seconds"] if ok("floor-json") else None
    obase = r["floor-orjson"]["seconds"] if ok("floor-orjson") else None
    dm = r["datumaro-coco"]["seconds"] if ok("datumaro-coco") else None
    rows = [
        ("labelnb COCO: `save_coco` (to_coco + orjson + write)", "labelnb-coco"),
        ("  of which `to_coco` (dict only)", "labelnb-coco-parts:to_coco"),
        ("  of which `orjson.dumps` of that dict", "labelnb-coco-parts:orjson"),
        ("labelnb COCO, gc disabled during the export", "labelnb-coco-nogc"),
        ("floor: `json.dump` of the final dict", "floor-json"),
        ("floor: `json.dumps` (C encoder) of the final dict + write", "floor-jsondumps"),
        ("floor: `orjson.dumps` of the final dict + write", "floor-orjson"),
        ("labelnb YOLO: `save_yolo` (label files + symlinks)", "labelnb-yolo"),
        ("  of which `to_yolo` text only (no file IO)", "labelnb-yolo-text"),
        ("Datumaro COCO: `export(\"coco_instances\")`", "datumaro-coco"),
        ("prototype fix (benchmark only, not labelnb): fast `to_coco` + orjson",
         "proto-coco"),
        ("prototype fix, gc paused while building", "proto-coco-nogc"),
    ]
    print(f"\n{a.images:,} images, {n_boxes:,} boxes ({a.boxes_per_image}/image, "
          f"{a.classes} classes), seed {a.seed}; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; {dm_note}; best of {max(1, a.repeat)} interleaved "
          f"run(s); load average {load0:.1f} at the start, {load1:.1f} at the end\n")
    print("| what | seconds | peak RSS MB | RSS before MB | output MB | vs json.dump | "
          "vs orjson floor | Datumaro / this |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for title, key in rows:
        k, _, part = key.partition(":")
        if k not in r:
            continue
        res = r[k]
        if "error" in res:
            print(f"| {title} | failed: {res['error']} | | | | | | |")
            continue
        sec = res[f"{part}_s"] if part else res["seconds"]
        out_mb = f"{res['bytes'] / 1e6:.0f}" if "bytes" in res and not part else ""
        if k == "labelnb-yolo" and "files" in res:
            out_mb += f" ({res['files']:,} files)"
        vs = f"{sec / base:.2f}x" if base else "n/a"
        vo = f"{sec / obase:.1f}x" if obase else "n/a"
        spd = (f"{dm / sec:.1f}x" if dm and not part and "coco" in k
               and not k.startswith("datumaro") else "")
        pk = "" if part else f"{res['peak_mb']:.0f}"
        rb = "" if part else f"{res['rss_before_mb']:.0f}"
        print(f"| {title} | {fmt_s(sec)} | {pk} | {rb} | {out_mb} | {vs} | {vo} | {spd} |")
    if not ok("datumaro-coco"):
        print(f"| Datumaro COCO | {dm_note} | | | | | | |")

    if a.repeat > 1:
        print("\nAll runs (s): " + "; ".join(
            f"{k} {', '.join(f'{t:.2f}' for t in v['all_seconds'])}"
            for k, v in r.items() if "all_seconds" in v))
    same = (ok("labelnb-coco") and ok("floor-orjson")
            and r["labelnb-coco"]["sha256"] == r["floor-orjson"]["sha256"])
    print(f"\nlabelnb's annotations.json and the floor's orjson file are "
          f"{'byte-identical' if same else 'DIFFERENT (the floor is not the same output!)'}.")
    for k in ("proto-coco", "proto-coco-nogc"):
        if ok(k) and ok("labelnb-coco"):
            same_k = r[k]["sha256"] == r["labelnb-coco"]["sha256"]
            print(f"The {k} file is {'byte-identical to' if same_k else 'DIFFERENT from'} "
                  "labelnb's.")
    if ok("datumaro-coco"):
        d = r["datumaro-coco"]
        print(f"Datumaro wrote {d['n_images']:,} images and {d['n_annotations']:,} annotations "
              f"({d['bytes'] / 1e6:.0f} MB: it adds license/flickr_url/coco_url/"
              "date_captured per image and attributes per annotation).")

    print("\n| target | measured | result |\n|---|---:|---|")
    lab = r["labelnb-coco"]["seconds"] if ok("labelnb-coco") else None
    if lab and dm:
        print(f"| labelnb COCO >= 5x faster than Datumaro | {dm / lab:.1f}x | "
              f"{'PASS' if dm / lab >= 5 else 'FAIL'} |")
    else:
        print(f"| labelnb COCO >= 5x faster than Datumaro | n/a | not measured ({dm_note}) |")
    if lab and base:
        print(f"| labelnb COCO within 2x of bare json.dump | {lab / base:.2f}x | "
              f"{'PASS' if lab / base <= 2 else 'FAIL'} |")
    if ok("labelnb-yolo") and base:
        y = r["labelnb-yolo"]["seconds"]
        print(f"| (no target) labelnb YOLO vs bare json.dump of the COCO dict | {y / base:.2f}x "
              "| info |")

    if lab and obase:
        print(f"| (no target) labelnb COCO vs orjson.dumps of the final dict | "
              f"{lab / obase:.1f}x | info |")
    if lab and base and (lab / base > 2 or a.profile) and not a.no_profile:
        prof = run_child("profile-coco", a, py)
        if "error" not in prof:
            print(f"\ncProfile of `save_coco` on {prof['profile_images']:,} images "
                  f"({prof['profile_images'] * a.boxes_per_image:,} boxes), by own time:\n")
            print("```\n" + prof["profile"].strip() + "\n```")


if __name__ == "__main__":
    main()
