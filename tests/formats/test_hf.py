"""Hugging Face datasets: IOB2 token classification with alignment reports, subword
labels, classification and detection, each loaded back with ``datasets.load_from_disk``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export
from labelnb.formats.hf import (
    from_hf,
    load_hf,
    regex_tokenizer,
    save_hf,
    to_hf_classification,
    to_hf_detection,
    to_hf_ner,
)
from labelnb.formats.spacy_docbin import TextRecord
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Span

datasets = pytest.importorskip("datasets")

EMOJI = "Zoë 😀 met Ana in 東京\r\nat the café"
COMBINING = "Cafe\u0301 Noir opened"  # e + U+0301: "Café" is 5 code points


def test_regex_tokenizer_keeps_combining_marks_and_counts_code_points() -> None:
    toks = [COMBINING[a:b] for a, b in regex_tokenizer(COMBINING)]
    assert toks == ["Cafe\u0301", "Noir", "opened"]
    toks = [EMOJI[a:b] for a, b in regex_tokenizer(EMOJI)]
    assert toks == ["Zoë", "😀", "met", "Ana", "in", "東京", "at", "the", "café"]
    assert regex_tokenizer(EMOJI)[5] == (17, 19)  # CJK, after an emoji: code points


def test_ner_round_trip_through_disk(tmp_path: Path) -> None:
    recs = [TextRecord(1, "Anna Smith visited New York .", (Span(0, 10, "PER"),
                                                               Span(19, 27, "LOC"))),
            TextRecord(2, EMOJI, (Span(10, 13, "PER"), Span(17, 19, "LOC"),
                                  Span(28, 32, "LOC"))),
            TextRecord(3, COMBINING, (Span(0, 10, "ORG"),))]
    train, rep = to_hf_ner(recs[:2], ["PER", "LOC", "ORG"])
    val, rep2 = to_hf_ner(recs[2:], ["PER", "LOC", "ORG"])
    assert rep.ok and rep2.ok and rep.spans == 5
    save_hf({"train": train, "validation": val}, tmp_path / "ner")
    dd = datasets.load_from_disk(str(tmp_path / "ner"))
    assert set(dd) == {"train", "validation"}
    feat = dd["train"].features["ner_tags"]
    assert isinstance(feat, datasets.Sequence) and isinstance(feat.feature, datasets.ClassLabel)
    assert feat.feature.names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    row = dd["train"][0]
    assert row["tokens"] == ["Anna", "Smith", "visited", "New", "York", "."]
    assert [feat.feature.int2str(t) for t in row["ner_tags"]] == \
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    assert [feat.feature.int2str(t) for t in dd["validation"][0]["ner_tags"]] == \
        ["B-ORG", "I-ORG", "O"]
    back = load_hf(tmp_path / "ner")
    for split, part in back.items():
        assert isinstance(part, list)
        for r in part:
            src = next(x for x in recs if x.id == r.id)
            assert r.text == src.text and r.regions == src.regions and r.split == split


@pytest.mark.parametrize(("text", "words"), [
    ("राहुल दिल्ली गया", ["राहुल", "दिल्ली", "गया"]),          # Devanagari vowel signs, virama
    ("مُحَمَّد في القاهرة", ["مُحَمَّد", "في", "القاهرة"]),       # Arabic vowel marks
    ("שָׁלוֹם עוֹלָם", ["שָׁלוֹם", "עוֹלָם"]),                    # Hebrew points
    ("ภาษาไทย ง่าย", ["ภาษาไทย", "ง่าย"]),                    # Thai vowels and tone marks
    ("می\u200cخواهم 👩\u200d🔬!", ["می\u200cخواهم", "👩\u200d🔬", "!"]),  # ZWNJ, ZWJ
])
def test_words_of_every_script_keep_their_marks(text: str, words: list[str]) -> None:
    """Python's \\w holds no combining marks: words of these scripts fell apart into
    letters and marks, and a span ending inside a word went through unreported."""
    assert [text[a:b] for a, b in regex_tokenizer(text)] == words
    half = TextRecord(1, text, (Span(0, 2, "PER"),))  # the first two code points
    ds, rep = to_hf_ner([half], ["PER"])
    assert [i.outcome for i in rep.issues] == ["dropped"] and ds[0]["tokens"] == words


def test_boundary_inside_a_token_is_reported() -> None:
    rec = TextRecord(7, "Bob met Bobby in 東京", (Span(0, 3, "PER"), Span(8, 11, "PER"),
                                                 Span(17, 18, "LOC")))
    ds, rep = to_hf_ner([rec], ["PER", "LOC"])
    assert [(i.text_id, i.start, i.end, i.label, i.outcome) for i in rep.issues] == \
        [(7, 8, 11, "PER", "dropped"), (7, 17, 18, "LOC", "dropped")]
    assert "'Bobby'" in rep.issues[0].reason and "'東京'" in rep.issues[1].reason
    assert ds[0]["ner_tags"] == [1, 0, 0, 0, 0]
    ds, rep = to_hf_ner([rec], ["PER", "LOC"], alignment_mode="expand")
    assert [i.aligned for i in rep.issues] == [(8, 13), (17, 19)]
    assert ds[0]["ner_tags"] == [1, 0, 1, 0, 3]
    ds, rep = to_hf_ner([rec], ["PER", "LOC"], alignment_mode="contract")
    assert [i.outcome for i in rep.issues] == ["dropped", "dropped"]
    with pytest.raises(FormatError, match=r"text 7: span \[8:11\]"):
        to_hf_ner([rec], ["PER", "LOC"], on_misaligned="raise")


def test_overlapping_spans_are_reported_not_merged() -> None:
    rec = TextRecord(1, "New York Times", (Span(0, 14, "ORG"), Span(0, 8, "LOC")))
    ds, rep = to_hf_ner([rec], ["LOC", "ORG"])
    assert ds[0]["ner_tags"] == [3, 4, 4]
    assert len(rep.issues) == 1 and "overlaps" in rep.issues[0].reason
    assert rep.issues[0].label == "LOC"


def test_duplicate_spans_are_written_once() -> None:
    rec = TextRecord(1, "Bob and Bobby", (Span(0, 3, "PER"), Span(0, 3, "PER"),
                                          Span(8, 13, "PER")))
    ds, rep = to_hf_ner([rec], ["PER"])
    assert rep.ok and ds[0]["ner_tags"] == [1, 0, 1]
    ds, rep = to_hf_ner([TextRecord(2, "Bobby", (Span(0, 5, "PER"), Span(0, 3, "PER")))],
                        ["PER"], alignment_mode="expand")
    assert [i.outcome for i in rep.issues] == ["moved"] and ds[0]["ner_tags"] == [1]


def _pieces(text: str) -> list[tuple[int, int, int | None]]:
    """A toy subword tokenizer: [CLS], then each word cut into pieces of 3 characters."""
    out: list[tuple[int, int, int | None]] = [(0, 0, None)]
    for w, (a, b) in enumerate(regex_tokenizer(text)):
        out += [(s, min(s + 3, b), w) for s in range(a, b, 3)]
    return out


def test_subword_labels_ignore_index_and_label_all_tokens() -> None:
    rec = TextRecord(1, "Annabel visited Amsterdam", (Span(0, 7, "PER"), Span(16, 25, "LOC")))
    ds, rep = to_hf_ner([rec], ["PER", "LOC"], tokenizer=_pieces)
    row = ds[0]
    assert rep.ok and row["tokens"] == ["Annabel", "visited", "Amsterdam"]
    assert row["ner_tags"] == [1, 0, 3]
    assert row["piece_offsets"][:3] == [[0, 3], [3, 6], [6, 7]]
    assert row["labels"] == [1, -100, -100, 0, -100, -100, 3, -100, -100]
    ds, _ = to_hf_ner([rec], ["PER", "LOC"], tokenizer=_pieces, label_all_tokens=True,
                      ignore_index=-1)
    assert ds[0]["labels"] == [1, 2, 2, 0, 0, 0, 3, 4, 4]
    assert ds.features["labels"].feature.dtype == "int64"
    # a boundary between two pieces of one word is inside the word: reported
    _, rep = to_hf_ner([TextRecord(2, "Annabel", (Span(0, 3, "PER"),))], ["PER"],
                       tokenizer=_pieces)
    assert len(rep.issues) == 1 and "'Annabel'" in rep.issues[0].reason


def test_bad_tokenizer_offsets_are_refused() -> None:
    with pytest.raises(FormatError, match="offsets must be increasing"):
        to_hf_ner([TextRecord(1, "ab cd")], ["X"], tokenizer=lambda t: [(3, 5), (0, 2)])
    with pytest.raises(FormatError, match="inside the text"):
        to_hf_ner([TextRecord(1, "ab")], ["X"], tokenizer=lambda t: [(0, 9)])
    with pytest.raises(FormatError, match="with start <= end"):
        to_hf_ner([TextRecord(1, "ab")], ["X"], tokenizer=lambda t: [(2, 1)])
    # ends before the piece before it / starts more than one character back
    with pytest.raises(FormatError, match=r"\(1, 2\) at 1 .*goes back from .*\(0, 3\)"):
        to_hf_ner([TextRecord(1, "abcd")], ["X"], tokenizer=lambda t: [(0, 3), (1, 2)])
    with pytest.raises(FormatError, match="goes back"):
        to_hf_ner([TextRecord(1, "abcd")], ["X"], tokenizer=lambda t: [(0, 3), (1, 4)])
    # one character shared by the pieces of two words
    with pytest.raises(FormatError, match="belongs to another word"):
        to_hf_ner([TextRecord(1, "abc")], ["X"], tokenizer=lambda t: [(0, 2, 0), (1, 3, 1)])


def _byte_level_bpe() -> Any:
    """A tiny GPT-2/RoBERTa-style tokenizer (byte-level BPE) trained here, no download;
    texts with an emoji it never saw, so the emoji is cut into its 4 UTF-8 bytes."""
    import tokenizers as tk  # a dev dependency: the test suite always has it

    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = tk.trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["Anna flew to Paris today", "Ben lives in Oslo"] * 50, trainer)
    return tok


def _spans(ds: Any) -> tuple[Any, ...]:
    recs = from_hf(ds)
    assert isinstance(recs, list) and len(recs) == 1
    return tuple(recs[0].regions)


BPE_TEXT = "😀 Anna flew to Paris"
BPE_SPANS = (Span(0, 1, "EMO"), Span(2, 6, "PER"), Span(15, 20, "LOC"))


def test_byte_level_bpe_repeated_and_empty_offsets_gpt2_style(tmp_path: Path) -> None:
    """GPT-2 style (no offset trimming): the emoji's 4 pieces all say (0, 1); the lone
    'Ġ' says (1, 2) and 'Ġflew' (6, 11), spaces included."""
    tok = _byte_level_bpe()
    enc = tok.encode(BPE_TEXT)
    assert enc.offsets[:6] == [(0, 1)] * 4 + [(1, 2), (2, 6)]  # what made export fail

    def pieces(t: str) -> list[tuple[int, int, int | None]]:
        e = tok.encode(t)
        return [(a, b, w) for (a, b), w in zip(e.offsets, e.word_ids, strict=True)]

    rec = TextRecord(1, BPE_TEXT, BPE_SPANS)
    ds, rep = to_hf_ner([rec], ["EMO", "PER", "LOC"], tokenizer=pieces)
    row = ds[0]
    assert rep.ok and row["tokens"] == ["😀", "Anna", "flew", "to", "Paris"]
    assert row["ner_tags"] == [1, 3, 0, 0, 5]
    assert row["piece_offsets"] == [[0, 1]] * 4 + [[2, 6], [7, 11], [12, 14], [15, 20]]
    assert row["labels"] == [1, -100, -100, -100, 3, 0, 0, 5]
    ds, _ = to_hf_ner([rec], ["EMO", "PER", "LOC"], tokenizer=pieces, label_all_tokens=True)
    assert ds[0]["labels"] == [1, 2, 2, 2, 3, 0, 0, 5]  # the emoji's pieces share its label
    assert _spans(ds) == BPE_SPANS
    # the pieces alone, as (start, end) pairs: each non-empty piece is a token
    ds, rep = to_hf_ner([rec], ["EMO", "PER", "LOC"], tokenizer=lambda t: tok.encode(t).offsets)
    assert rep.ok and ds[0]["ner_tags"] == [1, 2, 2, 2, 3, 0, 0, 5]
    assert _spans(ds) == BPE_SPANS


def test_byte_level_bpe_roberta_style_through_the_export(tmp_path: Path) -> None:
    """RoBERTa style, through transformers' fast tokenizer: <s>/</s> at (0, 0) and the
    lone 'Ġ' trimmed to an empty (2, 2) piece are left out, like special tokens."""
    import tokenizers as tk  # dev dependencies: the test suite always has them
    import transformers

    tok = _byte_level_bpe()
    tok.post_processor = tk.processors.RobertaProcessing(("</s>", 1), ("<s>", 0),
                                                         trim_offsets=True)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok)

    def pieces(t: str) -> list[tuple[int, int, int | None]]:
        e = fast(t, return_offsets_mapping=True)
        return [(a, b, w) for (a, b), w in zip(e["offset_mapping"], e.word_ids(), strict=True)]

    assert (2, 2, 1) in pieces(BPE_TEXT)
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["EMO", "PER", "LOC"]))
    [iid] = p.add_items([BPE_TEXT], media="text")
    p.add_annotations([Annotation(item_id=iid, author="ana", regions=BPE_SPANS)])
    rep = export(p, "hf", tmp_path / "hf", options={"tokenizer": pieces})
    assert rep.items == 1 and rep.alignment is not None and not rep.alignment["issues"]
    row = datasets.load_from_disk(str(tmp_path / "hf"))[0]
    assert row["tokens"] == ["😀", "Anna", "flew", "to", "Paris"]
    assert row["piece_offsets"] == [[0, 1]] * 4 + [[2, 6], [7, 11], [12, 14], [15, 20]]
    assert row["labels"] == [1, -100, -100, -100, 3, 0, 0, 5]


def test_text_classification(tmp_path: Path) -> None:
    recs = [TextRecord(1, "great 😀", (Choice("pos"),)), TextRecord(2, "meh", ()),
            TextRecord(3, "awful", (Choice("neg"),))]
    ds = to_hf_classification(recs, ["neg", "pos"])
    save_hf({None: ds}, tmp_path / "cls")
    back = datasets.load_from_disk(str(tmp_path / "cls"))
    assert back.features["label"].names == ["neg", "pos"]
    assert back["label"] == [1, -1, 0] and back["text"][0] == "great 😀"
    (got,) = load_hf(tmp_path / "cls").values()
    assert [r.regions for r in got] == [(Choice("pos"),), (), (Choice("neg"),)]  # type: ignore[union-attr]
    multi = to_hf_classification([TextRecord(1, "x", (Choice("b"), Choice("a")))], ["a", "b"],
                                 multi_label=True)
    assert multi[0]["labels"] == [0, 1]
    with pytest.raises(FormatError, match="multi_label=True"):
        to_hf_classification([TextRecord(1, "x", (Choice("b"), Choice("a")))], ["a", "b"])


def test_image_classification_and_detection(tmp_path: Path, images: list[Path]) -> None:
    from PIL import Image

    recs = [ImageRecord(i + 1, f.name, *((64, 48) if i % 3 else (40, 72)), uri=str(f))
            for i, f in enumerate(images[:4])]
    cls = Dataset(recs, {1: [Choice("cat")], 2: [Choice("dog")], 3: [], 4: [Choice("dog")]},
                  ["cat", "dog"])
    save_hf({None: to_hf_classification(cls, cls.categories)}, tmp_path / "ic")
    ic = datasets.load_from_disk(str(tmp_path / "ic"))
    assert ic["label"] == [0, 1, -1, 1] and isinstance(ic.features["image"], datasets.Image)
    assert ic[0]["image"].size == (40, 72)
    det = Dataset(recs, {1: [Box(1, 2, 11, 22, "cat"), Box(0.5, 0, 40, 72, "dog")], 2: [],
                         3: [Box(3.25, 4, 5, 6, "dog")], 4: []}, ["cat", "dog"])
    save_hf({"train": to_hf_detection(det)}, tmp_path / "det")
    dd = datasets.load_from_disk(str(tmp_path / "det"))
    row = dd["train"][0]
    assert row["objects"]["bbox"] == [[1.0, 2.0, 10.0, 20.0], [0.5, 0.0, 39.5, 72.0]]
    assert row["objects"]["category"] == [0, 1] and (row["width"], row["height"]) == (40, 72)
    cat = dd["train"].features["objects"]["category"]
    assert isinstance(cat.feature, datasets.ClassLabel) and cat.feature.names == ["cat", "dog"]
    with Image.open(images[0]) as src:
        assert row["image"].size == src.size
    back = load_hf(tmp_path / "det")["train"]
    assert isinstance(back, Dataset) and back.regions[1] == det.regions[1]
    assert back.regions[3] == det.regions[3]
    bytes_back = dd["train"].cast_column("image", datasets.Image(decode=False))[1]["image"]
    with Image.open(io.BytesIO(bytes_back["bytes"])) as im:
        assert im.size == (64, 48)
    assert isinstance(from_hf(dd["train"]), Dataset)


def test_export_projects_to_hf(tmp_path: Path, boxes_project: Project) -> None:
    rep = export(boxes_project, "hf", tmp_path / "boxes", split={"train": 0.75, "val": 0.25})
    dd = datasets.load_from_disk(str(tmp_path / "boxes"))
    assert sum(len(d) for d in dd.values()) == 12 and rep.validated == 12
    n_obj = sum(len(r["objects"]["bbox"]) for d in dd.values() for r in d)
    assert n_obj == rep.regions
    # spans: a text project, with a misaligned span reported
    p = Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER", "LOC"]))
    p.add_items(["Anna flew to 東京.", EMOJI, "Bob met Bobby"])
    gold = {"Anna flew to 東京.": [Span(0, 4, "PER"), Span(13, 15, "LOC")],
            EMOJI: [Span(10, 13, "PER"), Span(28, 32, "LOC")],
            "Bob met Bobby": [Span(0, 3, "PER"), Span(8, 11, "PER")]}
    q = p.queue("ana")
    while (task := q.claim()) is not None:
        q.submit(gold[task.item.text or ""])
    rep = export(p, "hf", tmp_path / "ner")
    assert rep.alignment is not None and rep.alignment["dropped"] == 1 and rep.validated == 3
    ds = datasets.load_from_disk(str(tmp_path / "ner"))
    assert len(ds) == 3 and (tmp_path / "ner" / "alignment.json").is_file()
    names = ds.features["ner_tags"].feature.names
    tags = {r["text"]: [names[t] for t in r["ner_tags"]] for r in ds}
    assert tags["Anna flew to 東京."] == ["B-PER", "O", "O", "B-LOC", "O"]
    assert tags["Bob met Bobby"] == ["B-PER", "O", "O"]
    # choice: text classification
    c = Project.create(tmp_path / "c.db", "c", Schema("choice", ["neg", "pos"]))
    ids = c.add_items(["good 😀", "bad"], media="text")
    c.add_annotations([Annotation(item_id=ids[0], regions=(Choice("pos"),), author="ana"),
                       Annotation(item_id=ids[1], regions=(Choice("neg"),), author="ana")])
    export(c, "hf", tmp_path / "cls")
    ds = datasets.load_from_disk(str(tmp_path / "cls"))
    assert sorted(zip(ds["text"], ds["label"], strict=True)) == [("bad", 0), ("good 😀", 1)]
    # choice on images: image classification
    ic = Project.create(tmp_path / "ic.db", "ic", Schema("choice", ["cat", "dog"]))
    ids = ic.add_items([str(f) for f in boxes_project.items()["uri"][:3]])
    ic.add_annotations([Annotation(item_id=i, regions=(Choice("dog"),), author="ana")
                        for i in ids])
    rep = export(ic, "hf", tmp_path / "ic", split={"train": 0.5, "test": 0.5})
    dd = datasets.load_from_disk(str(tmp_path / "ic"))
    assert rep.validated == 3 and sum(d["label"].count(1) for d in dd.values()) == 3
    (tid,) = ic.add_items(["a text item"], media="text")
    ic.add_annotations([Annotation(item_id=tid, regions=(Choice("cat"),), author="ana")])
    with pytest.raises(FormatError, match="mixes text and image items"):
        export(ic, "hf", tmp_path / "mixed")
    rep = export(ic, "hf", tmp_path / "texts_only", filter=lambda r: r.text is not None)
    assert rep.items == 1 and rep.filtered == 3


def test_hf_refuses_polygons(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "p.db", "p", Schema("polygons", ["cat"]))
    with pytest.raises(FormatError, match="expected one of"):
        export(p, "hf", tmp_path / "x")
