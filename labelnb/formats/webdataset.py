"""WebDataset: sharded ``.tar`` files, one sample per item.

``to_wds_sample`` / ``from_wds_sample`` convert one item to and from its files
(``{extension: bytes}``); ``save_webdataset`` / ``load_webdataset`` write and read the
shards. Writing needs only the standard library (``tarfile``); the shards are what
``webdataset.WebDataset(urls)`` iterates (``pip install 'labelnb[webdataset]'``).

* A sample's key is the item id, zero-padded (``000000042``): no dots, since
  WebDataset splits a file name at its first dot into key and extension.
* Each sample holds its media - the image bytes as ``<key>.jpg`` / ``.png`` / ...
  (upright: an EXIF-rotated image is re-encoded) or the text as ``<key>.txt`` (UTF-8)
  - and ``<key>.json``: ``id``, ``split``, for images ``file_name``, ``width`` and
  ``height``, ``regions`` (labelnb's JSON form of each region: boxes as ``x0, y0, x1,
  y1`` pixels, spans as code-point ``start``/``end``, masks as COCO RLE), ``labels``
  (each region's label), ``label_ids`` (their index in ``categories``) and
  ``categories`` (the schema's label names in order).
* Shards are ``<split>-000000.tar`` (``data-...`` without a split). A shard is closed
  once it holds ``maxcount`` samples, or when the next sample would take its tar
  members past ``maxsize`` bytes (a single larger sample gets a shard of its own), as
  ``webdataset.ShardWriter`` does. Members are written in key order with fixed
  metadata (mtime 0, uid 0), so the same data gives byte-identical shards.

>>> from labelnb.types import Span
>>> files = to_wds_sample(TextRecord(3, "hi Bob", (Span(3, 6, "PER"),)), ["PER"])
>>> sorted(files), from_wds_sample(files)[1]
(['json', 'txt'], (Span(start=3, end=6, label='PER', score=None, attributes={}),))
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from labelnb.errors import FormatError
from labelnb.formats._common import Dataset, ImageRecord, category_index, check_split_name
from labelnb.formats.spacy_docbin import TextRecord
from labelnb.types import Region

DEFAULT_MAXCOUNT = 10_000
DEFAULT_MAXSIZE = 3_000_000_000
_BLOCK = 512
_EXT = {"jpeg": "jpg", "mpo": "jpg", "png": "png", "webp": "webp", "gif": "gif",
        "bmp": "bmp", "tiff": "tiff"}


def sample_key(item_id: int) -> str:
    return f"{int(item_id):09d}"


def to_wds_sample(record: TextRecord | ImageRecord, categories: Sequence[str],
                  regions: Sequence[Region] | None = None, *, image: bytes | None = None,
                  image_format: str | None = None) -> dict[str, bytes]:
    """The files of one sample, by extension. A :class:`TextRecord` brings its regions;
    an :class:`ImageRecord` takes ``regions`` and its bytes (``image``, else read from
    ``record.uri``)."""
    regs = list(record.regions if isinstance(record, TextRecord) else regions or ())
    where = f"item {record.id}"
    ann: dict[str, Any] = {"id": record.id, "split": record.split}
    files: dict[str, bytes] = {}
    if isinstance(record, TextRecord):
        files["txt"] = record.text.encode("utf-8")
    else:
        if image is None:
            if record.uri is None:
                raise FormatError(f"image {record.file_name!r}: no source 'uri' to read it "
                                  "from; set ImageRecord.uri")
            from labelnb.formats.tfrecord import encoded_image

            image, image_format = encoded_image(record.uri, expect=record)
        ext = _EXT.get((image_format or "png").lower(), (image_format or "png").lower())
        files[ext] = image
        ann.update(file_name=record.file_name, width=record.width, height=record.height)
    ann["regions"] = [r.to_json() for r in regs]
    ann["labels"] = [r.label for r in regs]
    ann["label_ids"] = [category_index(categories, r.label, where) for r in regs]
    ann["categories"] = list(categories)
    files["json"] = orjson.dumps(ann, option=orjson.OPT_SERIALIZE_NUMPY)
    return files


def from_wds_sample(files: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[Region, ...]]:
    """The ``.json`` annotation of a sample (bytes, or already decoded as WebDataset's
    decoders give it) and its regions."""
    raw = files.get("json")
    if raw is None:
        raise FormatError(f"sample with files {sorted(files)}: no .json annotation")
    ann = orjson.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
    try:
        regions = tuple(Region.from_json(r) for r in ann.get("regions", ()))
    except Exception as e:
        raise FormatError(f"sample {ann.get('id')!r}: a region cannot be read ({e})") from e
    return ann, regions


class ShardWriter:
    """Write samples into numbered tar shards: ``pattern % n`` (e.g.
    ``"out/train-%06d.tar"``), a new shard after ``maxcount`` samples or before
    ``maxsize`` bytes of tar members would be passed."""

    def __init__(self, pattern: str, *, maxcount: int = DEFAULT_MAXCOUNT,
                 maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxcount < 1 or maxsize < 1:
            raise FormatError(f"ShardWriter: maxcount={maxcount}, maxsize={maxsize}; both must "
                              "be at least 1")
        self.pattern, self.maxcount, self.maxsize = pattern, maxcount, maxsize
        self.shards: list[Path] = []
        self._tar: tarfile.TarFile | None = None
        self._count = self._size = 0
        self._keys: set[str] = set()

    def _next(self) -> None:
        self.close()
        path = Path(self.pattern % len(self.shards))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)
        self.shards.append(path)
        self._count = self._size = 0

    def write(self, key: str, files: Mapping[str, bytes]) -> None:
        if not key or "." in key or "/" in key:
            raise FormatError(f"sample key {key!r}: a key must be non-empty, without dots or "
                              "slashes (WebDataset splits names at the first dot)")
        if key in self._keys:
            raise FormatError(f"sample key {key!r} is written twice")
        self._keys.add(key)
        size = sum(_BLOCK + -(-len(v) // _BLOCK) * _BLOCK for v in files.values())
        if (self._tar is None or self._count >= self.maxcount
                or (self._count and self._size + size > self.maxsize)):
            self._next()
        assert self._tar is not None
        for ext in sorted(files):
            data = files[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            info.uname = info.gname = "labelnb"
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1
        self._size += size

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save_webdataset(data: Dataset | Sequence[TextRecord], root: str | os.PathLike[str], *,
                    categories: Sequence[str] | None = None, maxcount: int = DEFAULT_MAXCOUNT,
                    maxsize: int = DEFAULT_MAXSIZE,
                    on_item: Callable[[Any], None] | None = None) -> list[Path]:
    """Write images (a :class:`Dataset`) or texts (``TextRecord`` s with
    ``categories``) as shards under ``root``, one set per split; returns the shards."""
    r = Path(root)
    r.mkdir(parents=True, exist_ok=True)
    if isinstance(data, Dataset):
        cats = list(data.categories)
        items: list[tuple[Any, Sequence[Region]]] = [
            (im, data.regions.get(im.id, ())) for im in data.images]
    else:
        if categories is None:
            raise FormatError("save_webdataset: give categories= (the label names) with texts")
        cats = list(categories)
        items = [(t, t.regions) for t in data]
    by_split: dict[str | None, list[tuple[Any, Sequence[Region]]]] = {}
    for rec, regs in items:
        by_split.setdefault(rec.split, []).append((rec, regs))
    shards: list[Path] = []
    for split, recs in by_split.items():
        prefix = check_split_name(split) if split else "data"
        # the pattern is %-formatted: a '%' in the folder or split name is escaped
        pattern = str(r / f"{prefix}-").replace("%", "%%") + "%06d.tar"
        with ShardWriter(pattern, maxcount=maxcount,
                         maxsize=maxsize) as w:
            for rec, regs in sorted(recs, key=lambda t: int(t[0].id)):
                w.write(sample_key(rec.id), to_wds_sample(rec, cats, regs))
                if on_item is not None:
                    on_item(rec)
        shards.extend(w.shards)
    return shards


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample read back: its key, shard, annotation, regions and media files."""

    key: str
    shard: str
    annotation: dict[str, Any]
    regions: tuple[Region, ...]
    media: dict[str, bytes] = field(default_factory=dict, hash=False)

    @property
    def text(self) -> str | None:
        return self.media["txt"].decode("utf-8") if "txt" in self.media else None


def iter_shard(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) of each sample in one tar, grouped as WebDataset
    groups them (consecutive members with the same key)."""
    key: str | None = None
    files: dict[str, bytes] = {}
    with tarfile.open(path, "r") as tar:
        for m in tar:
            if not m.isfile():
                continue
            base = m.name.rsplit("/", 1)[-1]
            k, _, ext = base.partition(".")
            if k != key and key is not None:
                yield key, files
                files = {}
            key = k
            f = tar.extractfile(m)
            files[ext] = f.read() if f is not None else b""
    if key is not None:
        yield key, files


def load_webdataset(root: str | os.PathLike[str]) -> list[Sample]:
    """Every sample of every ``*.tar`` under ``root`` (or of one tar), in shard order."""
    p = Path(root)
    shards = [p] if p.is_file() else sorted(p.glob("*.tar"))
    if not shards:
        raise FormatError(f"{str(p)!r}: no .tar shards in it; give the export folder")
    out = []
    for s in shards:
        for key, files in iter_shard(s):
            ann, regions = from_wds_sample(files)
            media = {k: v for k, v in files.items() if k != "json"}
            out.append(Sample(key, s.name, ann, regions, media))
    return out


def samples_to_dataset(samples: Sequence[Sample]) -> Dataset:
    """Image samples as a labelnb :class:`Dataset` (no ``uri``; the bytes stay in the
    samples)."""
    cats: list[str] = []
    images, regions = [], {}
    for s in samples:
        a = s.annotation
        if "width" not in a:
            raise FormatError(f"sample {s.key!r} in {s.shard!r} is not an image sample")
        cats = cats or list(a.get("categories", []))
        images.append(ImageRecord(int(a["id"]), str(a["file_name"]), int(a["width"]),
                                  int(a["height"]), split=a.get("split")))
        regions[int(a["id"])] = list(s.regions)
    return Dataset(images, regions, cats)


__all__ = ["DEFAULT_MAXCOUNT", "DEFAULT_MAXSIZE", "Sample", "ShardWriter", "from_wds_sample",
           "iter_shard", "load_webdataset", "sample_key", "samples_to_dataset",
           "save_webdataset", "to_wds_sample"]
