"""TFRecord files of ``tf.train.Example`` s in the TensorFlow Object Detection API
layout, written and read without TensorFlow.

``to_tf_example`` / ``from_tf_example`` convert one image and its regions to and from
the serialized ``Example`` bytes; ``save_tfrecord`` / ``load_tfrecord`` write and read
sharded files; ``write_records`` / ``read_records`` are the TFRecord framing alone.

Keys (the Object Detection API's): ``image/encoded`` (the image bytes, upright),
``image/format`` (``jpeg`` / ``png``), ``image/height``, ``image/width``,
``image/filename``, ``image/source_id`` (the item id), ``image/object/bbox/xmin``,
``xmax``, ``ymin``, ``ymax`` (normalized to ``[0, 1]``: ``x0 / width`` etc., float32),
``image/object/class/label`` (1-based, schema order; ``label_map.pbtxt`` beside the
shards records it) and ``image/object/class/text``. Polygons and masks also get
``image/object/mask``: one PNG per object (0/1 pixels, image size); they read back
as :class:`~labelnb.types.Mask`. Scores and attributes are not kept.

The ``Example`` protobuf is hand-encoded (:func:`encode_example`, below: varints,
length-delimited fields, packed floats and int64s) - the messages are small and fixed::

    message Example  { Features features = 1; }
    message Features { map<string, Feature> feature = 1; }   // entries: key=1, value=2
    message Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                                    Int64List int64_list = 3; } }
    message BytesList { repeated bytes value = 1; }
    message FloatList { repeated float value = 1 [packed = true]; }
    message Int64List { repeated int64 value = 1 [packed = true]; }

Framing (TensorFlow's ``TFRecordWriter``): for each record, its length as a
little-endian uint64, the masked CRC-32C of those 8 bytes (uint32), the data, the
masked CRC-32C of the data. ``mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8``
modulo 2**32. CRC-32C comes from ``google-crc32c`` (``pip install 'labelnb[tfrecord]'``).

Shards are named ``<split>.tfrecord-00000-of-00004`` (``data`` without a split).

>>> ex = encode_example({"image/height": [48], "image/object/class/text": [b"cat"],
...                      "image/object/bbox/xmin": [0.25]})
>>> decode_example(ex)["image/object/class/text"]
[b'cat']
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from labelnb.errors import FormatError, MissingExtra
from labelnb.formats._common import (
    Dataset,
    ImageRecord,
    _upright,
    category_index,
    check_categories,
    check_image_size,
    check_split_name,
)
from labelnb.types import Box, Mask, Polygon, Region

FeatureValue = Sequence[bytes] | Sequence[float] | Sequence[int]
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
DEFAULT_SHARD_SIZE = 1000
_KINDS = {**{f"image/object/bbox/{k}": "float" for k in ("xmin", "xmax", "ymin", "ymax")},
          "image/object/class/label": "int64", "image/object/class/text": "bytes",
          "image/object/mask": "bytes"}


# --- protobuf wire format ----------------------------------------------------------------


def _varint(n: int) -> bytes:
    """Base-128 varint; a negative int64 is written as its 64-bit two's complement."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, bytes."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _encode_feature(name: str, values: FeatureValue, kind: str | None = None) -> bytes:
    vals: list[Any] = list(values)
    if kind is None and not vals:
        kind = "float"  # TensorFlow's choice for an untyped empty list
    if kind == "bytes" or (kind is None and all(isinstance(v, bytes | bytearray) for v in vals)):
        return _ld(1, b"".join(_ld(1, bytes(v)) for v in vals))
    if any(isinstance(v, bytes | bytearray | str) for v in vals):
        raise FormatError(f"feature {name!r}: mixes bytes with numbers; encode strings as "
                          "bytes")
    if kind == "float" or (kind is None and any(isinstance(v, float) for v in vals)):
        packed = struct.pack(f"<{len(vals)}f", *vals)
        return _ld(2, _ld(1, packed) if vals else b"")
    if kind not in (None, "int64"):
        raise FormatError(f"feature {name!r}: kind {kind!r}; expected bytes, float or int64")
    return _ld(3, _ld(1, b"".join(_varint(int(v)) for v in vals)) if vals else b"")


def encode_example(features: Mapping[str, FeatureValue],
                   kinds: Mapping[str, str] | None = None) -> bytes:
    """Serialize a ``tf.train.Example`` from ``{key: [values]}``: ``bytes`` values make
    a BytesList, ``float`` s a FloatList (float32), ``int`` s an Int64List; ``kinds``
    (``bytes`` / ``float`` / ``int64`` by key) types the lists that may be empty. Keys
    are written sorted (as TensorFlow does for maps)."""
    kinds = kinds or {}
    entries = b"".join(_ld(1, _ld(1, k.encode("utf-8"))
                           + _ld(2, _encode_feature(k, v, kinds.get(k))))
                       for k, v in sorted(features.items()))
    return _ld(1, entries)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise FormatError("protobuf: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FormatError("protobuf: varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message: an int for varints, bytes for
    length-delimited fields (fixed32/64 are returned as bytes too)."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _read_varint(buf, pos)
            yield field, wt, v
        elif wt == 2:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise FormatError("protobuf: truncated length-delimited field")
            yield field, wt, buf[pos:pos + n]
            pos += n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            yield field, wt, buf[pos:pos + n]
            pos += n
        else:
            raise FormatError(f"protobuf: unsupported wire type {wt}")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _decode_feature(buf: bytes) -> list[Any]:
    for kind, _, payload in _fields(buf):
        if kind == 1:
            return [bytes(v) for f, _, v in _fields(payload) if f == 1]
        if kind == 2:
            out: list[Any] = []
            for f, wt, v in _fields(payload):
                if f == 1 and wt == 2:
                    out.extend(struct.unpack(f"<{len(v) // 4}f", v))
                elif f == 1 and wt == 5:
                    out.extend(struct.unpack("<f", v))
            return out
        if kind == 3:
            ints: list[Any] = []
            for f, wt, v in _fields(payload):
                if f == 1 and wt == 2:
                    pos = 0
                    while pos < len(v):
                        x, pos = _read_varint(v, pos)
                        ints.append(_signed(x))
                elif f == 1 and wt == 0:
                    ints.append(_signed(v))
            return ints
    return []


def decode_example(data: bytes) -> dict[str, list[Any]]:
    """Parse a serialized ``tf.train.Example`` into ``{key: [values]}``."""
    out: dict[str, list[Any]] = {}
    for f, _, features in _fields(data):
        if f != 1:
            continue
        for g, _, entry in _fields(features):
            if g != 1:
                continue
            key, value = "", b""
            for h, _, v in _fields(entry):
                if h == 1:
                    key = bytes(v).decode("utf-8")
                elif h == 2:
                    value = v
            out[key] = _decode_feature(value)
    return out


# --- TFRecord framing --------------------------------------------------------------------


def _crc32c(data: bytes) -> int:
    try:
        import google_crc32c
    except ImportError:
        raise MissingExtra("google-crc32c", "tfrecord", "TFRecord checksums") from None
    return int(google_crc32c.value(data))


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def frame(record: bytes) -> bytes:
    """One record with its TFRecord header and footer."""
    length = struct.pack("<Q", len(record))
    return (length + struct.pack("<I", masked_crc(length)) + record
            + struct.pack("<I", masked_crc(record)))


def write_records(path: str | os.PathLike[str], records: Iterable[bytes]) -> int:
    """Write framed records to ``path``; returns how many."""
    n = 0
    with open(path, "wb") as f:
        for r in records:
            f.write(frame(r))
            n += 1
    return n


def read_records(path: str | os.PathLike[str], *, verify: bool = True) -> Iterator[bytes]:
    """The records of a TFRecord file, both CRCs checked (``verify``)."""
    p = os.fspath(path)
    with open(p, "rb") as f:
        n = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise FormatError(f"{p!r}: record {n} has a truncated header")
            (length,), (crc,) = struct.unpack("<Q", head[:8]), struct.unpack("<I", head[8:])
            if verify and masked_crc(head[:8]) != crc:
                raise FormatError(f"{p!r}: record {n}: the length's CRC does not match; the "
                                  "file is corrupt")
            data = f.read(length)
            foot = f.read(4)
            if len(data) < length or len(foot) < 4:
                raise FormatError(f"{p!r}: record {n} is truncated")
            if verify and masked_crc(data) != struct.unpack("<I", foot)[0]:
                raise FormatError(f"{p!r}: record {n}: the data's CRC does not match; the file "
                                  "is corrupt")
            yield data
            n += 1


# --- images and Examples -----------------------------------------------------------------


def encoded_image(uri: str, *, expect: ImageRecord | None = None) -> tuple[bytes, str]:
    """The image's bytes, upright (an EXIF-rotated image is re-encoded), and its
    format in lower case (``jpeg``, ``png``, ...). With ``expect`` (the image's
    record), a file whose size is no longer the record's is refused
    (:func:`~labelnb.formats._common.check_image_size`)."""
    from PIL import Image

    from labelnb import media as media_mod

    data = media_mod.read_bytes(uri)
    rotated, size = _upright(io.BytesIO(data), uri)
    if expect is not None:
        check_image_size(expect, size, uri)
    if rotated is not None:
        data = rotated
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "png").lower()
        # Pillow calls many camera JPEGs MPO (a JPEG with a second image appended); the
        # bytes are a JPEG, and readers know them by that name
        fmt = {"mpo": "jpeg", "jpg": "jpeg"}.get(fmt, fmt)
    except Exception as e:
        raise FormatError(f"image {uri!r}: Pillow cannot read it ({e}); convert it to PNG or "
                          "JPEG") from e
    return data, fmt


def _mask_png(r: Mask | Polygon, im: ImageRecord, where: str) -> bytes:
    import numpy as np
    from PIL import Image

    if isinstance(r, Polygon):
        from pycocotools import mask as mask_utils

        rle = mask_utils.merge(mask_utils.frPyObjects([list(r.points)], im.height, im.width))
        arr = mask_utils.decode(rle).astype(bool)
    else:
        if r.size != (im.height, im.width):
            raise FormatError(f"{where}: the mask is {r.size[0]}x{r.size[1]} (h x w) but the "
                              f"image is {im.height}x{im.width}; encode the mask at image size")
        arr = r.to_array()
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def to_tf_example(image: ImageRecord, regions: Sequence[Region], categories: Sequence[str],
                  *, encoded: bytes | None = None, image_format: str | None = None) -> bytes:
    """The serialized ``Example`` of one image (``encoded``: the image bytes; read from
    ``image.uri`` when not given)."""
    if encoded is None:
        if image.uri is None:
            raise FormatError(f"image {image.file_name!r}: no source 'uri' to read it from; "
                              "set ImageRecord.uri")
        encoded, image_format = encoded_image(image.uri, expect=image)
    W, H = image.width, image.height
    xmin: list[float] = []
    xmax: list[float] = []
    ymin: list[float] = []
    ymax: list[float] = []
    labels: list[int] = []
    texts: list[bytes] = []
    masks: list[bytes] = []
    where = f"image {image.file_name!r} (id {image.id})"
    with_masks = any(isinstance(r, Mask | Polygon) for r in regions)
    for r in regions:
        if isinstance(r, Box):
            box = r
        elif isinstance(r, Mask | Polygon):
            box = r.bbox
        else:
            raise FormatError(f"{where}: TFRecord (Object Detection API) holds boxes, polygons "
                              f"and masks, not {type(r).__name__}; use the 'hf' or "
                              "'webdataset' format")
        if with_masks and isinstance(r, Box):
            raise FormatError(f"{where}: boxes and masks in one image; the Object Detection "
                              "API needs a mask for every object or for none")
        labels.append(category_index(categories, r.label, where) + 1)
        texts.append(r.label.encode("utf-8"))
        xmin.append(box.x0 / W)
        xmax.append(box.x1 / W)
        ymin.append(box.y0 / H)
        ymax.append(box.y1 / H)
        if isinstance(r, Mask | Polygon):
            masks.append(_mask_png(r, image, where))
    feats: dict[str, FeatureValue] = {
        "image/encoded": [encoded],
        "image/format": [(image_format or "png").encode()],
        "image/height": [H], "image/width": [W],
        "image/filename": [image.file_name.encode("utf-8")],
        "image/source_id": [str(image.id).encode()],
        "image/object/bbox/xmin": xmin, "image/object/bbox/xmax": xmax,
        "image/object/bbox/ymin": ymin, "image/object/bbox/ymax": ymax,
        "image/object/class/label": labels, "image/object/class/text": texts,
    }
    if masks:
        feats["image/object/mask"] = masks
    return encode_example(feats, _KINDS)


def from_tf_example(data: bytes, categories: Sequence[str] | None = None, *,
                    where: str = "example") -> tuple[ImageRecord, list[Region], bytes]:
    """(the image record, its regions, the image bytes) of a serialized ``Example``.
    Labels come from ``class/text``, else from ``class/label`` and ``categories``."""
    ex = decode_example(data)

    def one(key: str) -> Any:
        v = ex.get(key)
        if not v:
            raise FormatError(f"{where}: feature {key!r} is missing")
        return v[0]

    W, H = int(one("image/width")), int(one("image/height"))
    sid = one("image/source_id").decode("utf-8")
    name = one("image/filename").decode("utf-8")
    texts = [t.decode("utf-8") for t in ex.get("image/object/class/text", [])]
    ids = [int(v) for v in ex.get("image/object/class/label", [])]
    cols = [ex.get(f"image/object/bbox/{k}", []) for k in ("xmin", "ymin", "xmax", "ymax")]
    masks = ex.get("image/object/mask", [])
    regions: list[Region] = []
    for n, (x0, y0, x1, y1) in enumerate(zip(*cols, strict=True)):
        if n < len(texts):
            label = texts[n]
        elif categories is not None and 1 <= ids[n] <= len(categories):
            label = categories[ids[n] - 1]
        else:
            raise FormatError(f"{where}: object {n} has no class text and label "
                              f"{ids[n] if n < len(ids) else None} is not a category id")
        if masks:
            import numpy as np
            from PIL import Image

            with Image.open(io.BytesIO(masks[n])) as m:
                arr = np.asarray(m) > 0
            regions.append(Mask.from_array(arr, label))
        else:
            regions.append(Box(min(max(x0 * W, 0.0), W), min(max(y0 * H, 0.0), H),
                               min(max(x1 * W, 0.0), W), min(max(y1 * H, 0.0), H), label))
    iid = int(sid) if sid.isdigit() else 0
    return ImageRecord(iid, name, W, H), regions, one("image/encoded")


# --- files ---------------------------------------------------------------------------


def shard_names(prefix: str, num_shards: int) -> list[str]:
    """``<prefix>-00000-of-00004`` ... (TensorFlow's sharded file names)."""
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


def label_map_pbtxt(categories: Sequence[str]) -> str:
    """The Object Detection API's ``label_map.pbtxt`` (ids 1..n in schema order)."""
    cats = check_categories(categories, "label_map.pbtxt")
    esc = [c.replace("\\", "\\\\").replace("'", "\\'") for c in cats]
    return "".join(f"item {{\n  id: {i}\n  name: '{n}'\n}}\n" for i, n in enumerate(esc, 1))


def save_tfrecord(dataset: Dataset, root: str | os.PathLike[str], *,
                  num_shards: int | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                  on_image: Callable[[ImageRecord], None] | None = None) -> list[Path]:
    """Write each split's images as ``<split>.tfrecord-NNNNN-of-MMMMM`` shards under
    ``root`` (``num_shards`` each, or enough for ``shard_size`` images a shard) and
    ``label_map.pbtxt``. Returns the shard paths."""
    cats = check_categories(dataset.categories, "save_tfrecord")
    r = Path(root)
    r.mkdir(parents=True, exist_ok=True)
    (r / "label_map.pbtxt").write_text(label_map_pbtxt(cats), encoding="utf-8")
    written: list[Path] = []
    for split, part in dataset.splits().items():
        prefix = f"{check_split_name(split) if split else 'data'}.tfrecord"
        n = len(part.images)
        k = num_shards if num_shards is not None else max(1, math.ceil(n / max(shard_size, 1)))
        if k < 1:
            raise FormatError(f"save_tfrecord: num_shards={num_shards}; give at least 1")
        if num_shards is None and (isinstance(shard_size, bool) or not isinstance(
                shard_size, int) or shard_size < 1):
            raise FormatError(f"save_tfrecord: shard_size={shard_size!r}; give the images a "
                              "shard holds, at least 1")
        # as even as can be (4 images in 3 shards: 2, 1, 1, not 2, 2, 0): an empty shard
        # can leave a reader's worker with nothing
        bounds = [n * i // k for i in range(k + 1)]
        for i, name in enumerate(shard_names(prefix, k)):
            chunk = part.images[bounds[i]:bounds[i + 1]]

            def examples(chunk: list[ImageRecord] = chunk, part: Dataset = part
                         ) -> Iterator[bytes]:
                for im in chunk:
                    yield to_tf_example(im, part.regions.get(im.id, ()), cats)
                    if on_image is not None:
                        on_image(im)

            write_records(r / name, examples())
            written.append(r / name)
    return written


def load_tfrecord(root: str | os.PathLike[str], categories: Sequence[str] | None = None
                  ) -> Dataset:
    """Read every ``*.tfrecord-*`` shard under ``root`` (or one file); the split is the
    part of the name before ``.tfrecord`` (``data``: none). Categories come from
    ``label_map.pbtxt`` when not given. Images keep their bytes in ``meta["encoded"]``."""
    p = Path(root)
    files = [p] if p.is_file() else sorted(p.glob("*.tfrecord*"))
    if not files:
        raise FormatError(f"{str(p)!r}: no *.tfrecord* files in it; give the export folder")
    if categories is None:
        lm = (p if p.is_dir() else p.parent) / "label_map.pbtxt"
        categories = _read_label_map(lm) if lm.is_file() else []
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    for f in files:
        split: str | None = f.name.split(".tfrecord", 1)[0]
        split = None if split == "data" else split
        for n, data in enumerate(read_records(f)):
            im, regs, enc = from_tf_example(data, categories, where=f"{f.name}, record {n}")
            if im.id in regions:
                raise FormatError(f"{f.name}, record {n}: source_id {im.id} appears twice")
            images.append(ImageRecord(im.id, im.file_name, im.width, im.height, split=split,
                                      meta={"encoded": enc}))
            regions[im.id] = regs
    cats = list(categories) or sorted({r.label for rs in regions.values() for r in rs})
    return Dataset(images, regions, cats)


def _read_label_map(path: Path) -> list[str]:
    import re

    text = path.read_text(encoding="utf-8")
    items = re.findall(r"id:\s*(\d+)\s*name:\s*'((?:[^'\\]|\\.)*)'", text)
    byid = {int(i): re.sub(r"\\(.)", r"\1", n) for i, n in items}
    return [byid[i] for i in sorted(byid)]


__all__ = ["decode_example", "encode_example", "encoded_image", "frame", "from_tf_example",
           "label_map_pbtxt", "load_tfrecord", "masked_crc", "read_records", "save_tfrecord",
           "shard_names", "to_tf_example", "write_records"]
