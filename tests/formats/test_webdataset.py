"""WebDataset shards: sharding by count and size, sample layout, and reading back with
the ``webdataset`` package."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export
from labelnb.formats import webdataset as wds_fmt
from labelnb.formats.spacy_docbin import TextRecord
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Mask, Region, Span

wds = pytest.importorskip("webdataset")

EMOJI = "Zoë 😀 met Ana in 東京\r\nat the café"


def _read(shards: list[Path]) -> list[dict[str, Any]]:
    urls = [str(s) for s in sorted(shards)]
    return list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))


def _dataset(images: list[Path]) -> Dataset:
    recs = [ImageRecord(i + 1, f.name, *((64, 48) if i % 3 else (40, 72)), uri=str(f),
                        split="train" if i % 4 else "val") for i, f in enumerate(images)]
    regions: dict[int, list[Region]] = {
        r.id: [Box(1, 2, 11.5, 22, "dog", score=0.5, attributes={"occluded": True}),
               Box(0, 0, r.width, r.height, "cat")][: r.id % 3] for r in recs}
    return Dataset(recs, regions, ["cat", "dog"])


def test_images_by_count_read_with_webdataset(tmp_path: Path, images: list[Path]) -> None:
    ds = _dataset(images)
    shards = wds_fmt.save_webdataset(ds, tmp_path, maxcount=4)
    names = sorted(s.name for s in shards)
    assert names == ["train-000000.tar", "train-000001.tar", "train-000002.tar",
                     "val-000000.tar"]  # 9 train samples by 4, 3 val samples
    samples = _read(shards)
    assert len(samples) == 12
    by_id = {im.id: im for im in ds.images}
    for s in samples:
        assert "." not in s["__key__"]
        ann = json.loads(s["json"])
        im = by_id[ann["id"]]
        assert s["__key__"] == f"{im.id:09d}"
        ext = "jpg" if im.file_name.endswith("jpg") else "png"
        assert s[ext] == Path(im.uri or "").read_bytes()
        assert (ann["width"], ann["height"], ann["file_name"], ann["split"]) == \
            (im.width, im.height, im.file_name, im.split)
        assert [Region.from_json(r) for r in ann["regions"]] == ds.regions[im.id]
        assert ann["categories"] == ["cat", "dog"]
        assert ann["labels"] == [r.label for r in ds.regions[im.id]]
        assert ann["label_ids"] == [ds.categories.index(r.label) for r in ds.regions[im.id]]
    # decoded by webdataset: images as PIL, json as dict
    decoded = list(wds.WebDataset([str(s) for s in sorted(shards)], shardshuffle=False)
                   .decode("pil"))
    first = next(d for d in decoded if "png" in d)
    assert first["png"].size in ((64, 48), (40, 72)) and isinstance(first["json"], dict)
    back = wds_fmt.samples_to_dataset(wds_fmt.load_webdataset(tmp_path))
    assert back.categories == ds.categories and {i.id for i in back.images} == set(by_id)
    assert all(back.regions[i] == ds.regions[i] for i in by_id)


def test_shards_by_size_and_deterministic_bytes(tmp_path: Path, images: list[Path]) -> None:
    ds = _dataset(images)
    ds = Dataset([ImageRecord(im.id, im.file_name, im.width, im.height, uri=im.uri)
                  for im in ds.images], ds.regions, ds.categories)
    def member_bytes(files: dict[str, bytes]) -> int:
        return sum(512 + -(-len(v) // 512) * 512 for v in files.values())

    sizes = {f"{im.id:09d}": member_bytes(wds_fmt.to_wds_sample(im, ds.categories,
                                                                 ds.regions[im.id]))
             for im in ds.images}
    maxsize = 2 * max(sizes.values())  # two to three samples a shard
    shards = wds_fmt.save_webdataset(ds, tmp_path / "a", maxsize=maxsize)
    keys = []
    for s in shards:
        with tarfile.open(s) as t:
            keys.append(list(dict.fromkeys(m.name.split(".")[0] for m in t.getmembers())))
    assert 4 <= len(shards) <= 6 and sum(len(k) for k in keys) == 12
    for n, ks in enumerate(keys):  # greedy: full shards could not take the next sample
        used = sum(sizes[k] for k in ks)
        assert used <= maxsize
        if n + 1 < len(keys):
            assert used + sizes[keys[n + 1][0]] > maxsize
    assert len(_read(shards)) == 12
    again = wds_fmt.save_webdataset(ds, tmp_path / "b", maxsize=maxsize)
    assert [p.read_bytes() for p in shards] == [p.read_bytes() for p in again]
    tiny = wds_fmt.save_webdataset(ds, tmp_path / "c", maxsize=10)  # each sample alone
    assert len(tiny) == 12
    with pytest.raises(FormatError, match="at least 1"):
        wds_fmt.save_webdataset(ds, tmp_path / "d", maxcount=0)


def test_text_samples_keep_exact_offsets(tmp_path: Path) -> None:
    recs = [TextRecord(1, EMOJI, (Span(10, 13, "PER"), Span(17, 19, "LOC"))),
            TextRecord(2, "plain", (Choice("PER"),))]
    shards = wds_fmt.save_webdataset(recs, tmp_path, categories=["PER", "LOC"])
    samples = _read(shards)
    assert [s["__key__"] for s in samples] == ["000000001", "000000002"]
    text = samples[0]["txt"].decode("utf-8")
    assert text == EMOJI  # CRLF kept: the bytes are the text, UTF-8
    ann = json.loads(samples[0]["json"])
    assert [text[r["start"]:r["end"]] for r in ann["regions"]] == ["Ana", "東京"]
    loaded = wds_fmt.load_webdataset(tmp_path)
    assert loaded[0].text == EMOJI and loaded[0].regions == recs[0].regions
    assert loaded[1].regions == (Choice("PER"),)
    with pytest.raises(FormatError, match="categories="):
        wds_fmt.save_webdataset(recs, tmp_path / "x")
    with pytest.raises(FormatError, match="without dots"):
        wds_fmt.ShardWriter(str(tmp_path / "y-%06d.tar")).write("a.b", {"txt": b""})


def test_export_image_and_text_projects(tmp_path: Path, boxes_project: Project) -> None:
    rep = export(boxes_project, "webdataset", tmp_path / "w",
                 split={"train": 0.75, "val": 0.25}, options={"maxcount": 5})
    shards = sorted((tmp_path / "w").glob("*.tar"))
    assert rep.validated == 12 and len(shards) >= 3
    samples = _read(shards)
    assert len(samples) == 12
    assert sum(len(json.loads(s["json"])["regions"]) for s in samples) == rep.regions
    p = Project.create(tmp_path / "t.db", "t", Schema("multi_choice", ["a", "b"]))
    ids = p.add_items(["first 😀", "second\r\nline"], media="text")
    p.add_annotations([Annotation(item_id=ids[0], regions=(Choice("a"), Choice("b")),
                                  author="ana"),
                       Annotation(item_id=ids[1], regions=(), author="ana")])
    rep = export(p, "webdataset", tmp_path / "t")
    samples = _read(sorted((tmp_path / "t").glob("*.tar")))
    assert [s["txt"].decode() for s in samples] == ["first 😀", "second\r\nline"]
    assert [json.loads(s["json"])["labels"] for s in samples] == [["a", "b"], []]
    with pytest.raises(FormatError, match="do not apply"):
        export(p, "webdataset", tmp_path / "u", options={"num_shards": 2})


def test_export_mask_project_keeps_rle(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat"]))
    (iid,) = p.add_items([str(images[1])])
    a = np.zeros((48, 64), dtype=bool)
    a[3:9, 4:20] = True
    m = Mask.from_array(a, "cat")
    p.add_annotations([Annotation(item_id=iid, regions=(m,), author="ana")])
    export(p, "webdataset", tmp_path / "w")
    (s,) = _read(sorted((tmp_path / "w").glob("*.tar")))
    (r,) = json.loads(s["json"])["regions"]
    assert Region.from_json(r) == m and np.array_equal(Region.from_json(r).to_array(), a)  # type: ignore[attr-defined]
    with tarfile.open(sorted((tmp_path / "w").glob("*.tar"))[0]) as t:
        assert [x.name for x in t.getmembers()] == [f"{iid:09d}.json", f"{iid:09d}.jpg"] or \
            [x.name for x in t.getmembers()] == [f"{iid:09d}.jpg", f"{iid:09d}.json"]
    assert io.BytesIO(s["jpg"]).getvalue()[:2] == b"\xff\xd8"


def test_a_percent_sign_in_the_folder_or_split_name(tmp_path: Path,
                                                    boxes_project: Project) -> None:
    """The shard pattern is %-formatted: '100%' in the path failed and 'a%%b' left a stray
    folder beside the export; a split '50%' failed."""
    import labelnb

    for name in ("exp_100%", "a%%b", "x_%d"):
        labelnb.export(boxes_project, "webdataset", tmp_path / name)
        assert (tmp_path / name / "data-000000.tar").is_file()
    labelnb.export(boxes_project, "webdataset", tmp_path / "w",
                   split={"train": 0.5, "50%": 0.5})
    assert sorted(p.name for p in (tmp_path / "w").glob("*.tar")) == \
        ["50%-000000.tar", "train-000000.tar"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_camera_jpegs_that_pillow_calls_mpo_are_jpg(tmp_path: Path) -> None:
    from PIL import Image

    import labelnb
    from labelnb.types import Box

    f = tmp_path / "phone.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(
        f, format="MPO", save_all=True, append_images=[Image.new("RGB", (40, 30))])
    assert Image.open(f).format == "MPO"
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema("boxes", ["cat"]))
    [i] = p.add_items([str(f)])
    p.add_annotations([labelnb.Annotation(item_id=i, author="ana",
                                          regions=(Box(1, 1, 9, 9, "cat"),))])
    labelnb.export(p, "webdataset", tmp_path / "w")
    import tarfile

    with tarfile.open(tmp_path / "w" / "data-000000.tar") as tar:
        assert sorted(n.rsplit(".", 1)[1] for n in tar.getnames()) == ["jpg", "json"]
    from labelnb.formats.tfrecord import encoded_image

    assert encoded_image(str(f))[1] == "jpeg"
