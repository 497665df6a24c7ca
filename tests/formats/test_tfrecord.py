"""TFRecord without TensorFlow, checked by an independent reader: the framing parsed
here with both CRCs verified, and the Example decoded by google.protobuf's dynamic
messages (the writer hand-encodes the wire format)."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export, tfrecord
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Mask, Polygon

google_crc32c = pytest.importorskip("google_crc32c")
pytest.importorskip("google.protobuf")


def _example_class() -> Any:
    """tf.train.Example built at run time from a descriptor (tensorflow/core/example/
    example.proto and feature.proto, field numbers as published)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="labelnb_test_example.proto",
                                            package="labelnb_test", syntax="proto3")

    def msg(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> Any:
        m = fd.message_type.add(name=name)
        for fname, number, label, ftype, tname in fields:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                f.type_name = tname
        return m

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    msg("BytesList", [("value", 1, rep, F.TYPE_BYTES, None)])
    msg("FloatList", [("value", 1, rep, F.TYPE_FLOAT, None)])
    msg("Int64List", [("value", 1, rep, F.TYPE_INT64, None)])
    feat = msg("Feature", [("bytes_list", 1, opt, F.TYPE_MESSAGE, ".labelnb_test.BytesList"),
                           ("float_list", 2, opt, F.TYPE_MESSAGE, ".labelnb_test.FloatList"),
                           ("int64_list", 3, opt, F.TYPE_MESSAGE, ".labelnb_test.Int64List")])
    feat.oneof_decl.add(name="kind")
    for f in feat.field:
        f.oneof_index = 0
    feats = msg("Features", [("feature", 1, rep, F.TYPE_MESSAGE,
                              ".labelnb_test.Features.FeatureEntry")])
    entry = feats.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=opt, type=F.TYPE_STRING)
    entry.field.add(name="value", number=2, label=opt, type=F.TYPE_MESSAGE,
                    type_name=".labelnb_test.Feature")
    msg("Example", [("features", 1, opt, F.TYPE_MESSAGE, ".labelnb_test.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("labelnb_test.Example"))


Example = _example_class()


def _masked(data: bytes) -> int:
    crc = int.from_bytes(google_crc32c.Checksum(data).digest(), "big")
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % (1 << 32)


def read_tfrecord(path: Path) -> list[dict[str, list[Any]]]:
    """The test's own reader: framing by hand, CRCs checked, protobuf decodes."""
    out = []
    buf = path.read_bytes()
    pos = 0
    while pos < len(buf):
        (n,) = struct.unpack_from("<Q", buf, pos)
        (len_crc,) = struct.unpack_from("<I", buf, pos + 8)
        assert len_crc == _masked(buf[pos:pos + 8]), "length CRC"
        data = buf[pos + 12:pos + 12 + n]
        (data_crc,) = struct.unpack_from("<I", buf, pos + 12 + n)
        assert data_crc == _masked(data), "data CRC"
        pos += 16 + n
        ex = Example()
        ex.ParseFromString(data)
        feats: dict[str, list[Any]] = {}
        for key, f in ex.features.feature.items():
            kind = f.WhichOneof("kind")
            feats[key] = list(getattr(f, kind).value) if kind else []
        out.append(feats)
    return out


def _dataset(images: list[Path]) -> Dataset:
    recs = [ImageRecord(i + 1, f.name, *((64, 48) if i % 3 else (40, 72)), uri=str(f),
                        split="train" if i % 4 else "val") for i, f in enumerate(images)]
    regions = {r.id: [Box(1, 2, 11.5, 22, "dog"), Box(0, 0, r.width, r.height, "cat")][: r.id % 3]
               for r in recs}
    return Dataset(recs, dict(regions), ["cat", "dog"])


def test_examples_read_by_protobuf_with_verified_crcs(tmp_path: Path,
                                                      images: list[Path]) -> None:
    ds = _dataset(images)
    shards = tfrecord.save_tfrecord(ds, tmp_path, num_shards=4)
    names = sorted(p.name for p in shards)
    assert names == sorted([f"train.tfrecord-0000{i}-of-00004" for i in range(4)]
                           + [f"val.tfrecord-0000{i}-of-00004" for i in range(4)])
    seen = {}
    for shard in shards:
        for ex in read_tfrecord(shard):
            seen[int(ex["image/source_id"][0])] = ex
    assert sorted(seen) == [im.id for im in ds.images]
    for im in ds.images:
        ex = seen[im.id]
        assert ex["image/height"] == [im.height] and ex["image/width"] == [im.width]
        assert ex["image/filename"] == [im.file_name.encode()]
        assert ex["image/format"] == [b"jpeg" if im.file_name.endswith("jpg") else b"png"]
        assert ex["image/encoded"][0] == Path(im.uri or "").read_bytes()
        boxes = ds.regions[im.id]
        assert ex["image/object/class/text"] == [b.label.encode() for b in boxes]
        assert ex["image/object/class/label"] == [ds.categories.index(b.label) + 1 for b in boxes]
        for key, attr, size in (("xmin", "x0", im.width), ("xmax", "x1", im.width),
                                ("ymin", "y0", im.height), ("ymax", "y1", im.height)):
            want = [getattr(b, attr) / size for b in boxes]
            assert ex[f"image/object/bbox/{key}"] == pytest.approx(want, abs=1e-7)
    assert (tmp_path / "label_map.pbtxt").read_text() == (
        "item {\n  id: 1\n  name: 'cat'\n}\nitem {\n  id: 2\n  name: 'dog'\n}\n")
    back = tfrecord.load_tfrecord(tmp_path)
    assert back.categories == ["cat", "dog"] and len(back.images) == len(ds.images)
    for im in back.images:
        want = ds.regions[im.id]
        have = back.regions[im.id]
        assert [b.label for b in have] == [b.label for b in want]
        for a, b in zip(want, have, strict=True):
            assert isinstance(a, Box) and isinstance(b, Box)
            assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((a.x0, a.y0, a.x1, a.y1), abs=1e-4)


def test_hand_encoding_matches_protobuf_golden() -> None:
    feats: dict[str, Any] = {"b": [b"x", b""], "f": [0.5, -1.25, 3e-8], "i": [1, 300, -2, 2**40],
                             "empty_f": [], "\u6771": [b"\xff"]}
    mine = tfrecord.encode_example(feats)
    ex = Example()
    for k, v in feats.items():
        f = ex.features.feature[k]
        if k == "empty_f":
            f.float_list.SetInParent()
        elif isinstance(v[0], bytes):
            f.bytes_list.value.extend(v)
        elif isinstance(v[0], float):
            f.float_list.value.extend(v)
        else:
            f.int64_list.value.extend(v)
    assert mine == ex.SerializeToString(deterministic=True)
    parsed = Example()
    parsed.ParseFromString(mine)
    assert list(parsed.features.feature["i"].int64_list.value) == [1, 300, -2, 2**40]
    assert tfrecord.decode_example(ex.SerializeToString())["i"] == [1, 300, -2, 2**40]
    # golden bytes of one small Example (a BytesList under key "k")
    assert tfrecord.encode_example({"k": [b"v"]}) == bytes.fromhex("0a0c0a0a0a016b12050a030a0176")


def test_framing_golden_and_corruption(tmp_path: Path) -> None:
    f = tmp_path / "r.tfrecord"
    tfrecord.write_records(f, [b"", b"123456789"])
    raw = f.read_bytes()
    # an empty record: zero length, its masked CRC, then the masked CRC of b"" (crc 0)
    assert raw[:8] == bytes(8) and raw[12:16] == bytes.fromhex("d8ea82a2")
    assert struct.unpack("<I", raw[8:12])[0] == _masked(bytes(8))
    # "123456789" has the published CRC-32C check value 0xE3069283
    crc = 0xE3069283
    assert raw[-4:] == struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32)
    assert struct.unpack("<Q", raw[16:24])[0] == 9 and len(raw) == 16 + 16 + 9
    assert list(tfrecord.read_records(f)) == [b"", b"123456789"]
    bad = bytearray(raw)
    bad[-5] ^= 1  # flip a bit of the data
    f.write_bytes(bytes(bad))
    with pytest.raises(FormatError, match="data's CRC"):
        list(tfrecord.read_records(f))
    f.write_bytes(raw[:-2])
    with pytest.raises(FormatError, match="truncated"):
        list(tfrecord.read_records(f))


def test_masks_and_polygons_as_png(tmp_path: Path, images: list[Path]) -> None:
    from PIL import Image

    a = np.zeros((48, 64), dtype=bool)
    a[5:20, 10:30] = True
    im = ImageRecord(1, images[1].name, 64, 48, uri=str(images[1]))
    regs = [Mask.from_array(a, "cat"), Polygon((1, 1, 20, 1, 20, 30, 1, 30), "dog")]
    tfrecord.save_tfrecord(Dataset([im], {1: regs}, ["cat", "dog"]), tmp_path)
    (ex,) = read_tfrecord(tmp_path / "data.tfrecord-00000-of-00001")
    assert len(ex["image/object/mask"]) == 2
    with Image.open(io.BytesIO(ex["image/object/mask"][0])) as m:
        assert m.format == "PNG" and m.size == (64, 48)
        assert np.array_equal(np.asarray(m) > 0, a)
    assert ex["image/object/bbox/xmin"] == pytest.approx([10 / 64, 1 / 64])
    back = tfrecord.load_tfrecord(tmp_path)
    got = back.regions[1]
    assert isinstance(got[0], Mask) and got[0].rle == regs[0].rle  # type: ignore[union-attr]
    assert isinstance(got[1], Mask) and got[1].bbox.xywh == (1.0, 1.0, 19.0, 29.0)
    with pytest.raises(FormatError, match="mask for every object"):
        tfrecord.to_tf_example(im, [Box(0, 0, 1, 1, "cat"), regs[0]], ["cat", "dog"])


def test_export_from_projects(tmp_path: Path, boxes_project: Project,
                              images: list[Path]) -> None:
    rep = export(boxes_project, "tfrecord", tmp_path / "t", split={"train": 0.5, "val": 0.5},
                 options={"num_shards": 2})
    assert rep.categories == {1: "cat", 2: "dog"} and rep.validated == 12
    files = sorted((tmp_path / "t").glob("*.tfrecord-*"))
    assert [f.name.split("-", 1)[1] for f in files] == ["00000-of-00002", "00001-of-00002"] * 2
    exs = [ex for f in files for ex in read_tfrecord(f)]
    assert len(exs) == 12 and sum(len(e["image/object/class/label"]) for e in exs) == rep.regions
    p = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat"]))
    ids = p.add_items([str(f) for f in images[:2]])
    anns = []
    for i in ids:
        it = p.item(i)
        assert it.width is not None and it.height is not None
        a = np.zeros((it.height, it.width), dtype=bool)
        a[2:9, 3:17] = True
        anns.append(Annotation(item_id=i, regions=(Mask.from_array(a, "cat"),), author="ana"))
    p.add_annotations(anns)
    rep = export(p, "tfrecord", tmp_path / "m")
    assert rep.validated == 2
    poly = Project.create(tmp_path / "poly.db", "poly", Schema("polygons", ["cat"]))
    (iid,) = poly.add_items([str(images[2])])
    poly.add_annotations([Annotation(item_id=iid, regions=(
        Polygon((1, 1, 20, 1, 20, 30, 1, 30), "cat"),), author="ana")])
    rep = export(poly, "tfrecord", tmp_path / "p", progress=True)
    (ex,) = read_tfrecord(tmp_path / "p" / "data.tfrecord-00000-of-00001")
    assert rep.validated == 1 and len(ex["image/object/mask"]) == 1
    with pytest.raises(FormatError, match="embeds the media"):
        export(p, "tfrecord", tmp_path / "n", media="none")


def test_shards_are_as_even_as_can_be(tmp_path: Path, images: list[Path]) -> None:
    """4 images in 3 shards were 2, 2, 0: an empty shard file."""
    from dataclasses import replace

    full = _dataset(images[:4])
    ds = Dataset([replace(im, split=None) for im in full.images], full.regions,
                 full.categories)
    shards = tfrecord.save_tfrecord(ds, tmp_path, num_shards=3)
    sizes = [sum(1 for _ in read_tfrecord(s)) for s in sorted(shards)]
    assert sorted(sizes) == [1, 1, 2]
    with pytest.raises(FormatError, match="shard_size=0"):
        tfrecord.save_tfrecord(ds, tmp_path / "z", shard_size=0)
