"""Hugging Face ``datasets``: token classification (NER), classification and detection.

``to_hf_*`` build a ``datasets.Dataset``; ``from_hf`` reads one back into labelnb
records; ``save_hf`` / ``load_hf`` write and read ``save_to_disk`` folders (a
``DatasetDict`` when the export has splits). ``datasets`` is imported inside the
functions (``pip install 'labelnb[hf]'``).

Token classification (``to_hf_ner``), one row per text:

* ``id``, ``text``, ``tokens`` (the words), ``offsets`` (each word's ``[start, end)``
  in code points, so the spans can be rebuilt exactly) and ``ner_tags``: a
  ``Sequence(ClassLabel)`` in IOB2 with names ``O, B-<label>, I-<label>, ...`` in
  schema order.
* Tokens come from ``tokenizer``: any callable ``text -> [(start, end), ...]``; the
  default is :func:`regex_tokenizer` (runs of word characters with their combining
  marks, and every other non-space character alone). A tokenizer may return
  ``(start, end, word_id)`` triples instead - subword pieces, as a fast tokenizer's
  ``offset_mapping`` and ``word_ids()`` give them (pieces with ``word_id`` ``None``,
  such as ``[CLS]``, are left out). Then ``tokens``/``ner_tags`` are per word and two
  more columns are per piece: ``piece_offsets`` and ``labels`` (tag ids; a word's
  pieces after the first get ``ignore_index``, ``-100`` by default, unless
  ``label_all_tokens=True``, when they get the word's tag, ``B-`` turned into ``I-``).
* Offsets are trimmed of whitespace at either end (as a byte-level tokenizer's
  ``trim_offsets`` does), and a piece that covers no text (an empty ``(2, 2)``, a lone
  ``Ġ``) is left out like a special token. The pieces of one character cut into bytes
  (an emoji, in GPT-2/RoBERTa-style byte-level BPE) may repeat its range, or share it
  with the next piece: they belong to one word and share its label. Offsets that go
  back (a piece starting before the previous one's last character, or ending before
  it) are refused.
* A span whose boundary falls inside a word is aligned by ``alignment_mode``
  (``strict``: left out; ``contract`` / ``expand``: moved) and listed in the
  :class:`~labelnb.formats.spacy_docbin.AlignmentReport`; so is a span that overlaps
  another (IOB2 holds one label per token; the longer, earlier span wins).

Classification (``to_hf_classification``): ``id``, ``text`` or ``image`` (the image
bytes, ``datasets.Image``) plus ``file_name``, and ``label`` (``ClassLabel``) or, for
``multi_choice``, ``labels`` (``Sequence(ClassLabel)``; ``[]`` for an item none of the
classes applies to). ``to_hf_classification`` writes ``-1`` for a single-label item
without a choice, but :func:`labelnb.export` never passes one: a ``choice`` item whose
final annotation chose no class is left out, counted as unlabeled with its reason
(``labelnb.formats.pipeline.NO_CHOICE``), in every format.

Detection (``to_hf_detection``): ``id``, ``image``, ``file_name``, ``width``,
``height`` and ``objects`` = ``{"bbox": [[x, y, w, h], ...] (COCO xywh, pixels),
"category": [ClassLabel, ...]}`` - the layout of the Hub's detection datasets.

>>> ds, report = to_hf_ner([TextRecord(7, "Anna lives in New York.",
...                                    (Span(0, 4, "PER"), Span(14, 22, "LOC")))],
...                        ["PER", "LOC"])
>>> ds[0]["tokens"], ds[0]["ner_tags"]
(['Anna', 'lives', 'in', 'New', 'York', '.'], [1, 0, 0, 3, 4, 0])
>>> ds.features["ner_tags"].feature.names
['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
>>> from_hf(ds)[0].regions == (Span(0, 4, "PER"), Span(14, 22, "LOC"))
True
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from labelnb.errors import FormatError, MissingExtra
from labelnb.formats._common import Dataset, ImageRecord, category_index, check_categories
from labelnb.formats.spacy_docbin import (
    AlignmentIssue,
    AlignmentMode,
    AlignmentReport,
    OnMisaligned,
    TextRecord,
    check_alignment_options,
    misaligned_reason,
    raise_or_record,
)
from labelnb.types import Box, Choice, Region, Span

Tokenizer = Callable[[str], Sequence[Sequence[Any]]]
Task = Literal["ner", "classification", "detection"]

_PIECE = re.compile(r"\w+|[^\w\s]")


def _joins(c: str) -> bool:
    """A character that belongs to the character before it: a combining mark of any
    script (Unicode categories Mn, Mc, Me: Devanagari and Thai vowel signs, Arabic and
    Hebrew vowel points, Latin accents, variation selectors) or a zero-width (non-)joiner.
    Python's ``\\w`` holds none of the marks, so words of those scripts fell apart."""
    return unicodedata.category(c)[0] == "M" or c in "\u200c\u200d"


def regex_tokenizer(text: str) -> list[tuple[int, int]]:
    """Word tokens: runs of word characters (with the combining marks of any script),
    and each other non-space character alone (punctuation, emoji), as ``(start, end)``
    code points.

    >>> t = "Zoë's café\\r\\n😀!"
    >>> [t[a:b] for a, b in regex_tokenizer(t)]
    ['Zoë', "'", 's', 'café', '😀', '!']
    >>> t = "राहुल दिल्ली गया"  # Devanagari: vowel signs are marks, not letters
    >>> [t[a:b] for a, b in regex_tokenizer(t)]
    ['राहुल', 'दिल्ली', 'गया']
    """
    out: list[tuple[int, int]] = []
    word = False  # whether the token being built is a word (else a symbol and its marks)
    for m in _PIECE.finditer(text):
        a, b = m.span()
        if out and out[-1][1] == a and (
                _joins(text[a])  # marks join whatever they follow
                or text[a - 1] == "\u200d"  # so does what a zero-width joiner joins (👩‍🔬)
                or (word and _joins(text[a - 1]))):  # a word goes on after its marks
            out[-1] = (out[-1][0], b)
            continue
        out.append((a, b))
        word = m.group()[0].isalnum() or m.group()[0] == "_"
    return out


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise MissingExtra("datasets", "hf", "Hugging Face datasets export") from None
    return datasets


def iob2_names(categories: Sequence[str]) -> list[str]:
    """``["O", "B-<c>", "I-<c>", ...]`` in category order."""
    out = ["O"]
    for c in check_categories(categories, "IOB2 tags"):
        out += [f"B-{c}", f"I-{c}"]
    return out


def _pieces(tokenizer: Tokenizer, text: str, rid: int
            ) -> tuple[list[tuple[int, int]], list[int] | None]:
    """The tokenizer's pieces with text: ``(start, end)`` with the whitespace at either end
    trimmed off, and the word ids of triples.

    Pieces that cover no text - special tokens (``word_id`` ``None``), an empty ``(2, 2)``
    or a whitespace-only piece such as a byte-level tokenizer's lone ``Ġ`` - are left
    out. Byte-level tokenizers cut one multi-byte character (an emoji) into several
    pieces that each carry that character's range, so a piece may share its first
    character with the piece before it; a piece that starts further back, or ends
    before the piece before it, goes backwards and is refused, and so is a shared
    character between two words."""
    raw = list(tokenizer(text))
    offsets: list[tuple[int, int]] = []
    words: list[int] = []
    triples = bool(raw) and len(raw[0]) == 3
    for n, t in enumerate(raw):
        if len(t) != (3 if triples else 2):
            raise FormatError(f"text {rid}: the tokenizer returned {t!r} at {n}; return "
                              "(start, end) pairs, or (start, end, word_id) triples throughout")
        if triples and t[2] is None:
            continue
        s, e = int(t[0]), int(t[1])
        if not 0 <= s <= e <= len(text):
            raise FormatError(f"text {rid}: the tokenizer returned offsets {(s, e)} at {n}; "
                              "offsets must be (start, end) code-point ranges inside the text "
                              f"({len(text)} code points) with start <= end")
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s == e:  # no characters: left out, as special tokens are
            continue
        if offsets:
            ps, pe = offsets[-1]
            new_word = triples and int(t[2]) != words[-1]
            goes_back = s < ps or e < pe or s < pe - 1
            if goes_back or (new_word and s < pe):
                why = (f"it goes back from the piece before it {(ps, pe)}" if goes_back else
                       "it shares characters with the piece before it, which belongs to "
                       "another word")
                raise FormatError(
                    f"text {rid}: the tokenizer returned offsets {(s, e)} at {n} (whitespace "
                    f"trimmed): {why}; offsets must be increasing: each piece starts and "
                    "ends at or after the one before, sharing at most one character with it "
                    "(the pieces of one character cut into bytes), within one word")
        offsets.append((s, e))
        if triples:
            words.append(int(t[2]))
    return offsets, (words if triples else None)


def align_span(offsets: Sequence[tuple[int, int]], start: int, end: int,
               mode: AlignmentMode) -> tuple[int, int] | None:
    """The token range ``[i, j)`` a character span maps to under ``mode``, or None."""
    touched = [i for i, (s, e) in enumerate(offsets) if s < end and start < e]
    if not touched:
        return None
    i, j = touched[0], touched[-1] + 1
    exact = offsets[i][0] == start and offsets[j - 1][1] == end
    if mode == "strict":
        return (i, j) if exact else None
    if mode == "expand":
        return i, j
    inside = [k for k in touched if offsets[k][0] >= start and offsets[k][1] <= end]
    return (inside[0], inside[-1] + 1) if inside else None


def _tag_words(rec: TextRecord, words: Sequence[tuple[int, int]], categories: Sequence[str],
               mode: AlignmentMode, on_misaligned: OnMisaligned, report: AlignmentReport
               ) -> list[int]:
    tags = [0] * len(words)
    where = f"text {rec.id}"
    placed: list[tuple[int, int, Span]] = []
    for r in rec.regions:
        if not isinstance(r, Span):
            raise FormatError(f"{where}: token classification holds spans, not "
                              f"{type(r).__name__}; use to_hf_classification")
        report.spans += 1
        c = category_index(categories, r.label, where)
        rng = align_span(words, r.start, r.end, mode) if r.end <= len(rec.text) else None
        if rng is None:
            reason = misaligned_reason(rec.text, words, r.start, r.end)
            raise_or_record(report, AlignmentIssue(rec.id, r.start, r.end, r.label, reason),
                            on_misaligned)
            continue
        a, b = words[rng[0]][0], words[rng[1] - 1][1]
        if (a, b) != (r.start, r.end):
            reason = misaligned_reason(rec.text, words, r.start, r.end)
            raise_or_record(report, AlignmentIssue(
                rec.id, r.start, r.end, r.label,
                f"{reason}; {mode}ed to [{a}:{b}] {rec.text[a:b]!r}", "moved", (a, b)),
                on_misaligned)
        placed.append((rng[0], rng[1], r))
    placed.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    taken = [False] * len(words)
    done: set[tuple[int, int, str]] = set()
    for i, j, r in placed:
        if (i, j, r.label) in done:  # the same span twice (or two aligned to one range)
            continue
        done.add((i, j, r.label))
        if any(taken[i:j]):
            other = next(s for a, b, s in placed if s is not r and a < j and i < b)
            issue = AlignmentIssue(rec.id, r.start, r.end, r.label,
                                   f"it overlaps the span [{other.start}:{other.end}] "
                                   f"{other.label!r}; IOB2 holds one label per token")
            raise_or_record(report, issue, on_misaligned)
            continue
        c = category_index(categories, r.label, where)
        tags[i] = 1 + 2 * c
        for k in range(i + 1, j):
            tags[k] = 2 + 2 * c
        for k in range(i, j):
            taken[k] = True
    return tags


def to_hf_ner(records: Iterable[TextRecord], categories: Sequence[str], *,
              tokenizer: Tokenizer | None = None, alignment_mode: AlignmentMode = "strict",
              on_misaligned: OnMisaligned = "report", label_all_tokens: bool = False,
              ignore_index: int = -100) -> tuple[Any, AlignmentReport]:
    """A token-classification ``datasets.Dataset`` (see the module doc) and the
    alignment report."""
    check_alignment_options(alignment_mode, on_misaligned)
    datasets = _datasets()
    names = iob2_names(categories)
    tok = tokenizer or regex_tokenizer
    report = AlignmentReport(mode=alignment_mode)
    cols: dict[str, list[Any]] = {"id": [], "text": [], "tokens": [], "offsets": [],
                                  "ner_tags": []}
    pieces_cols: dict[str, list[Any]] = {"piece_offsets": [], "labels": []}
    any_words = False
    recs = list(records)
    for rec in recs:
        pieces, word_ids = _pieces(tok, rec.text, rec.id)
        if word_ids is None:
            words = pieces
            first_piece = list(range(len(pieces)))
            piece_word = list(range(len(pieces)))
        else:
            any_words = True
            words, first_piece, piece_word = [], [], []
            for n, (p, w) in enumerate(zip(pieces, word_ids, strict=True)):
                if n == 0 or w != word_ids[n - 1]:
                    words.append(p)
                    first_piece.append(n)
                else:
                    words[-1] = (words[-1][0], p[1])
                piece_word.append(len(words) - 1)
        tags = _tag_words(rec, words, categories, alignment_mode, on_misaligned, report)
        labels = []
        for n, w in enumerate(piece_word):
            t = tags[w]
            if n == first_piece[w]:
                labels.append(t)
            elif label_all_tokens:
                labels.append(t + 1 if t % 2 == 1 else t)  # B-x -> I-x inside a word
            else:
                labels.append(ignore_index)
        cols["id"].append(rec.id)
        cols["text"].append(rec.text)
        cols["tokens"].append([rec.text[a:b] for a, b in words])
        cols["offsets"].append([[a, b] for a, b in words])
        cols["ner_tags"].append(tags)
        pieces_cols["piece_offsets"].append([[a, b] for a, b in pieces])
        pieces_cols["labels"].append(labels)
    V, Seq = datasets.Value, datasets.Sequence
    feats: dict[str, Any] = {
        "id": V("int64"), "text": V("string"), "tokens": Seq(V("string")),
        "offsets": Seq(Seq(V("int32"), length=2)),
        "ner_tags": Seq(datasets.ClassLabel(names=names)),
    }
    if any_words:
        cols.update(pieces_cols)
        feats["piece_offsets"] = Seq(Seq(V("int32"), length=2))
        feats["labels"] = Seq(V("int64"))
    return datasets.Dataset.from_dict(cols, features=datasets.Features(feats)), report


def _image_column(images: Sequence[ImageRecord]) -> list[dict[str, Any]]:
    from labelnb.formats.tfrecord import encoded_image

    out = []
    for im in images:
        if im.uri is None:
            raise FormatError(f"image {im.file_name!r}: no source 'uri' to read it from; set "
                              "ImageRecord.uri")
        data, _ = encoded_image(im.uri, expect=im)
        out.append({"bytes": data, "path": im.file_name})
    return out


def _choices(regions: Sequence[Region], where: str) -> list[Choice]:
    out = []
    for r in regions:
        if not isinstance(r, Choice):
            raise FormatError(f"{where}: classification holds choices, not "
                              f"{type(r).__name__}; export this project as 'ner' or "
                              "'detection'")
        out.append(r)
    return out


def to_hf_classification(examples: Sequence[TextRecord] | Dataset,
                         categories: Sequence[str], *, multi_label: bool = False) -> Any:
    """A text (``TextRecord`` s) or image (a labelnb :class:`Dataset`) classification
    ``datasets.Dataset``: ``label`` (``-1`` when an item has no choice: no class, which
    :func:`labelnb.export` leaves out instead), or ``labels`` with ``multi_label``
    (``[]``: none of the classes applies)."""
    datasets = _datasets()
    cats = check_categories(categories, "to_hf_classification")
    V = datasets.Value
    cl = datasets.ClassLabel(names=cats)
    feats: dict[str, Any] = {"id": V("int64")}
    cols: dict[str, list[Any]] = {"id": []}
    if isinstance(examples, Dataset):
        rows: list[tuple[int, Sequence[Region]]] = [
            (im.id, examples.regions.get(im.id, [])) for im in examples.images]
        cols["image"] = _image_column(examples.images)
        cols["file_name"] = [im.file_name for im in examples.images]
        feats.update(image=datasets.Image(), file_name=V("string"))
    else:
        rows = [(t.id, t.regions) for t in examples]
        cols["text"] = [t.text for t in examples]
        feats["text"] = V("string")
    key = "labels" if multi_label else "label"
    cols[key] = []
    feats[key] = datasets.Sequence(cl) if multi_label else cl
    for rid, regions in rows:
        where = f"item {rid}"
        ids = [category_index(cats, c.label, where) for c in _choices(regions, where)]
        if not multi_label and len(ids) > 1:
            raise FormatError(f"{where}: {len(ids)} choices in a single-label dataset; pass "
                              "multi_label=True (a 'multi_choice' project)")
        cols["id"].append(rid)
        cols[key].append(sorted(ids) if multi_label else (ids[0] if ids else -1))
    return datasets.Dataset.from_dict(cols, features=datasets.Features(feats))


def to_hf_detection(dataset: Dataset) -> Any:
    """An object-detection ``datasets.Dataset`` (boxes only; COCO ``xywh`` pixels)."""
    datasets = _datasets()
    cats = check_categories(dataset.categories, "to_hf_detection")
    V, Seq = datasets.Value, datasets.Sequence
    objects = []
    for im in dataset.images:
        bbox, cat = [], []
        for r in dataset.regions.get(im.id, ()):
            where = f"image {im.file_name!r} (id {im.id})"
            if not isinstance(r, Box):
                raise FormatError(f"{where}: the detection layout holds boxes, not "
                                  f"{type(r).__name__}; export polygons and masks to COCO")
            bbox.append(list(r.xywh))
            cat.append(category_index(cats, r.label, where))
        objects.append({"bbox": bbox, "category": cat})
    feats = datasets.Features({
        "id": V("int64"), "image": datasets.Image(), "file_name": V("string"),
        "width": V("int32"), "height": V("int32"),
        "objects": Seq({"bbox": Seq(V("float64"), length=4),
                        "category": datasets.ClassLabel(names=cats)}),
    })
    cols = {"id": [im.id for im in dataset.images], "image": _image_column(dataset.images),
            "file_name": [im.file_name for im in dataset.images],
            "width": [im.width for im in dataset.images],
            "height": [im.height for im in dataset.images], "objects": objects}
    return datasets.Dataset.from_dict(cols, features=feats)


def _spans_from_iob(text: str, offsets: Sequence[Sequence[int]], tags: Sequence[int],
                    names: Sequence[str]) -> tuple[Span, ...]:
    out: list[Span] = []
    cur: list[Any] | None = None  # [start, end, label]
    for (a, b), t in zip(offsets, tags, strict=True):
        name = names[t] if 0 <= t < len(names) else "O"
        if name == "O":
            cur = None
            continue
        pre, label = name.split("-", 1)
        if pre == "I" and cur is not None and cur[2] == label:
            cur[1] = b
            out[-1] = Span(cur[0], b, label)
            continue
        cur = [a, b, label]
        out.append(Span(a, b, label))
    return tuple(out)


def from_hf(ds: Any, *, split: str | None = None) -> list[TextRecord] | Dataset:
    """labelnb records from a dataset written by ``to_hf_*``: ``TextRecord`` s (spans
    or choices) for texts, a :class:`Dataset` (boxes or choices; no ``uri``) for
    images."""
    cols = set(ds.column_names)
    feats = ds.features
    if "ner_tags" in cols:
        names = feats["ner_tags"].feature.names
        if "offsets" not in cols or "text" not in cols:
            raise FormatError("token classification dataset: columns 'text' and 'offsets' are "
                              "needed to rebuild character spans")
        return [TextRecord(int(r["id"]), r["text"],
                           _spans_from_iob(r["text"], r["offsets"], r["ner_tags"], names), split)
                for r in ds]
    key = "labels" if "labels" in cols else "label" if "label" in cols else None
    if "objects" in cols:
        obj = feats["objects"]  # a Sequence of a dict is stored as a dict of sequences
        cat: Any = obj["category"] if isinstance(obj, Mapping) else obj.feature["category"]
        names = getattr(cat, "feature", cat).names
    elif key is not None:
        f = feats[key]
        names = (f.feature if key == "labels" else f).names
    else:
        raise FormatError(f"dataset columns {sorted(cols)}: not a labelnb export (expected "
                          "'ner_tags', 'label'/'labels' or 'objects')")
    rows = ds.cast_column("image", _datasets().Image(decode=False)) if "image" in cols else ds

    def choices(r: Mapping[str, Any]) -> tuple[Region, ...]:
        v = r[key] if key else None
        ids = v if isinstance(v, list) else ([] if v is None or v < 0 else [v])
        return tuple(Choice(names[i]) for i in ids)

    if "text" in cols:
        return [TextRecord(int(r["id"]), r["text"], choices(r), split) for r in rows]
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    for r in rows:
        iid = int(r["id"])
        w, h = r.get("width"), r.get("height")
        if w is None or h is None:
            from labelnb.media import image_size

            w, h = image_size(r["image"]["bytes"], r["file_name"])
        images.append(ImageRecord(iid, r["file_name"], int(w), int(h), split=split))
        if "objects" in cols:
            o = r["objects"]
            regions[iid] = [Box.from_xywh(bb[0], bb[1], bb[2], bb[3], names[c]) for bb, c in
                            zip(o["bbox"], o["category"], strict=True)]
        else:
            regions[iid] = list(choices(r))
    return Dataset(images, regions, list(names))


def save_hf(parts: Mapping[str | None, Any], path: str | os.PathLike[str]) -> Path:
    """``save_to_disk``: one dataset for ``{None: ds}``, else a ``DatasetDict`` by split."""
    datasets = _datasets()
    p = Path(path)
    if None in parts and len(parts) > 1:
        raise FormatError("save_hf: give every part a split name, or only one part (None)")
    from datasets.utils import logging as hf_logging

    quiet = not hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one bar per split and shard is noise in a notebook
    try:
        if list(parts) == [None]:
            parts[None].save_to_disk(str(p))
        else:
            datasets.DatasetDict({str(k): v for k, v in parts.items()}).save_to_disk(str(p))
    finally:
        if not quiet:
            hf_logging.enable_progress_bar()
    return p


def load_hf(path: str | os.PathLike[str]) -> dict[str | None, list[TextRecord] | Dataset]:
    """Read a ``save_to_disk`` folder (``datasets.load_from_disk``) back to records, by
    split (``None`` for a single dataset)."""
    datasets = _datasets()
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{str(p)!r}: no dataset there; give the save_to_disk folder")
    try:
        loaded = datasets.load_from_disk(str(p))
    except Exception as e:
        raise FormatError(f"{str(p)!r}: datasets.load_from_disk cannot read it ({e})") from e
    if isinstance(loaded, datasets.DatasetDict):
        return {k: from_hf(v, split=k) for k, v in loaded.items()}
    return {None: from_hf(loaded)}


__all__ = ["Task", "Tokenizer", "align_span", "from_hf", "iob2_names", "load_hf",
           "regex_tokenizer", "save_hf", "to_hf_classification", "to_hf_detection",
           "to_hf_ner"]
