"""spaCy DocBin: ents / spans[key], alignment reports, and reading back with spaCy."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from labelnb.errors import FormatError
from labelnb.formats import export
from labelnb.formats.spacy_docbin import (
    TextRecord,
    from_spacy,
    load_spacy,
    save_spacy,
    to_spacy,
)
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Box, Span

spacy = pytest.importorskip("spacy")

# Offsets are code points: "😀" and "東" are one each; COMBINING's "é" is e + U+0301 (two).
EMOJI = "Zoë 😀 met Ana in 東京\r\nat the café"  # CRLF, emoji, CJK, precomposed ë and é
COMBINING = "Cafe\u0301 Noir opened"  # "Café" spelled with a combining acute accent


@pytest.mark.parametrize("name", ["labelnb.formats.spacy_docbin", "labelnb.formats.hf",
                                  "labelnb.formats.tfrecord", "labelnb.formats.webdataset"])
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name),
                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_heavy_libraries_load_only_when_used() -> None:
    code = ("import sys, labelnb, labelnb.formats, labelnb.formats.pipeline; "
            "print(sorted(m for m in ('spacy', 'datasets', 'webdataset', 'google_crc32c') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_docbin_round_trip_with_overlaps(tmp_path: Path) -> None:
    recs = [
        TextRecord(1, "Anna Smith works at New York Times.",
                   (Span(0, 10, "PER"), Span(20, 34, "ORG"), Span(20, 28, "LOC"))),
        TextRecord(2, EMOJI, (Span(0, 3, "PER"), Span(10, 13, "PER"), Span(17, 19, "LOC"))),
        TextRecord(3, "nothing here"),
    ]
    report = save_spacy(recs, tmp_path / "d.spacy")
    assert report.spans == 6 and not report.dropped and not report.moved
    # the overlapping ORG / LOC are reported: a ner model trains on them as outside
    assert [(i.text_id, i.start, i.end, i.label, i.outcome) for i in report.issues] == [
        (1, 20, 28, "LOC", "spans_only"), (1, 20, 34, "ORG", "spans_only")]
    assert "overlaps [20:34] 'ORG' 'New York Times'" in report.issues[0].reason
    assert "2 overlapping ones in Doc.spans only" in str(report)
    assert report.to_json()["spans_only"] == 2
    docs = list(spacy.tokens.DocBin().from_disk(tmp_path / "d.spacy")
                .get_docs(spacy.blank("en").vocab))
    assert [d.text for d in docs] == [r.text for r in recs]
    ents = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs]
    spans = [[(s.start_char, s.end_char, s.label_) for s in d.spans["sc"]] for d in docs]
    # the overlapping ORG / LOC go to spans["sc"] only; every span is in spans["sc"]
    assert ents == [[(0, 10, "PER")], [(0, 3, "PER"), (10, 13, "PER"), (17, 19, "LOC")], []]
    assert spans == [[(0, 10, "PER"), (20, 28, "LOC"), (20, 34, "ORG")],
                     [(0, 3, "PER"), (10, 13, "PER"), (17, 19, "LOC")], []]
    assert docs[1].ents[2].text == "東京"
    assert [d.user_data["labelnb_id"] for d in docs] == [1, 2, 3]
    back = load_spacy(tmp_path / "d.spacy")
    assert [(r.id, r.text) for r in back] == [(r.id, r.text) for r in recs]
    for a, b in zip(back, recs, strict=True):
        assert set(a.regions) == set(b.regions)


def test_custom_spans_key_and_language(tmp_path: Path) -> None:
    rec = TextRecord(5, "Ich wohne in Berlin.", (Span(13, 19, "LOC"),))
    save_spacy([rec], tmp_path / "de.spacy", lang="de", spans_key="ents_all")
    doc = next(spacy.tokens.DocBin().from_disk(tmp_path / "de.spacy")
               .get_docs(spacy.blank("de").vocab))
    assert "sc" not in doc.spans and [s.text for s in doc.spans["ents_all"]] == ["Berlin"]
    assert load_spacy(tmp_path / "de.spacy", lang="de", spans_key="ents_all")[0].regions == \
        rec.regions
    with pytest.raises(FormatError, match="language code"):
        to_spacy([rec], lang="no-such-language")


@pytest.mark.parametrize("text,span,strict_reason,contract,expand", [
    # combining mark: "Cafe" without its accent cuts the token "Café" (5 code points)
    (COMBINING, (0, 4), "falls inside the token 'Cafe\u0301'", None, (0, 5)),
    # emoji: a span that runs from the name into the space before the emoji
    (EMOJI, (0, 4), "beside a token", (0, 3), (0, 3)),
    # CJK: one character of 東京
    (EMOJI, (17, 18), "falls inside the token '東京'", None, (17, 19)),
    # CRLF: a span running into the line break
    (EMOJI, (17, 20), "inside the token|beside a token", (17, 19), (17, 21)),
])
def test_misaligned_spans_are_reported(text: str, span: tuple[int, int], strict_reason: str,
                                       contract: tuple[int, int] | None,
                                       expand: tuple[int, int] | None) -> None:
    rec = TextRecord(9, text, (Span(*span, "X"), Span(0, 1, "Y") if span[0] > 0 else
                               Span(len(text) - 4, len(text), "Y")))
    docs, rep = to_spacy([rec], alignment_mode="strict")
    assert len(rep.issues) >= 1
    issue = next(i for i in rep.issues if i.label == "X")
    assert (issue.text_id, issue.start, issue.end, issue.outcome) == (9, *span, "dropped")
    assert __import__("re").search(strict_reason, issue.reason), issue.reason
    assert (span[0], span[1], "X") not in {(s.start_char, s.end_char, s.label_)
                                           for s in docs[0].spans["sc"]}
    for mode, want in (("contract", contract), ("expand", expand)):
        docs, rep = to_spacy([rec], alignment_mode=mode)  # type: ignore[arg-type]
        issue = next(i for i in rep.issues if i.label == "X")
        got = {(s.start_char, s.end_char) for s in docs[0].spans["sc"] if s.label_ == "X"}
        if want is None:
            assert issue.outcome == "dropped" and not got
        else:
            if want == span:
                continue
            assert issue.outcome == "moved" and issue.aligned == want and got == {want}
    # every span is either written as given or listed: nothing disappears silently
    for mode in ("strict", "contract", "expand"):
        docs, rep = to_spacy([rec], alignment_mode=mode)  # type: ignore[arg-type]
        written = {(s.start_char, s.end_char, s.label_) for s in docs[0].spans["sc"]}
        listed = {(i.start, i.end, i.label) for i in rep.issues}
        for r in rec.regions:
            assert isinstance(r, Span)
            assert (r.start, r.end, r.label) in written | listed


def test_on_misaligned_raise_and_bad_options() -> None:
    rec = TextRecord(4, "Bobby", (Span(0, 3, "PER"),))
    with pytest.raises(FormatError, match=r"text 4: span \[0:3\] 'PER'.*inside the token"):
        to_spacy([rec], on_misaligned="raise")
    with pytest.raises(FormatError, match="alignment_mode"):
        to_spacy([rec], alignment_mode="loose")  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="past the end"):
        to_spacy([TextRecord(1, "ab", (Span(0, 5, "X"),))], on_misaligned="raise")
    with pytest.raises(FormatError, match="hold spans, not Box"):
        to_spacy([TextRecord(1, "ab", (Box(0, 0, 1, 1, "X"),))])
    rep = to_spacy([rec])[1]
    assert "left out" in str(rep) and rep.to_json()["dropped"] == 1


def test_from_spacy_reads_foreign_docs() -> None:
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Paris is nice")
    doc.ents = [doc.char_span(0, 5, label="GPE")]
    (rec,) = from_spacy([doc])
    assert rec.id == 1 and rec.regions == (Span(0, 5, "GPE"),)


def _spans_project(tmp_path: Path) -> Project:
    p = Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER", "LOC"]))
    texts = ["Anna lives in New York.", EMOJI, "Bob met Bobby", COMBINING]
    p.add_items(texts)
    gold = {0: [Span(0, 4, "PER"), Span(14, 22, "LOC")],
            1: [Span(0, 3, "PER"), Span(17, 19, "LOC"), Span(28, 32, "LOC")],
            2: [Span(0, 3, "PER"), Span(8, 11, "PER")],  # "Bob" inside "Bobby": misaligned
            3: [Span(0, 10, "LOC")]}
    q = p.queue("ana")
    while (task := q.claim()) is not None:
        q.submit(gold[texts.index(task.item.text or "")])
    return p


def test_export_spans_project(tmp_path: Path) -> None:
    p = _spans_project(tmp_path)
    out = tmp_path / "sp"
    rep = export(p, "spacy", out, split={"train": 0.5, "val": 0.5}, seed=3)
    assert rep.items == 4 and rep.validated == 4 and rep.regions == 7  # 8 less the dropped
    assert rep.alignment is not None and rep.alignment["dropped"] == 1
    assert rep.warnings and "text" in rep.warnings[0] and "'Bobby'" in rep.warnings[0]
    issues = orjson.loads((out / "alignment.json").read_bytes())["issues"]
    assert [(i["start"], i["end"], i["label"]) for i in issues] == [(8, 11, "PER")]
    files = sorted(f.name for f in out.glob("*.spacy"))
    assert files == [f"{s}.spacy" for s in sorted(k for k, v in rep.splits.items() if v)]
    nlp = spacy.blank("en")
    docs = [d for f in files for d in spacy.tokens.DocBin().from_disk(out / f).get_docs(nlp.vocab)]
    assert len(docs) == 4 and sum(len(d.spans["sc"]) for d in docs) == 7
    expanded = export(p, "spacy", tmp_path / "ex", options={"alignment_mode": "expand"})
    assert expanded.alignment is not None and expanded.alignment["moved"] == 1
    (doc,) = [d for d in spacy.tokens.DocBin().from_disk(tmp_path / "ex" / "data.spacy")
              .get_docs(nlp.vocab) if d.text == "Bob met Bobby"]
    assert [e.text for e in doc.ents] == ["Bob", "Bobby"]
    with pytest.raises(FormatError, match="does not align"):
        export(p, "spacy", tmp_path / "r", options={"on_misaligned": "raise"})
    assert not (tmp_path / "r").exists()
    with pytest.raises(FormatError, match="do not apply"):
        export(p, "spacy", tmp_path / "r", options={"maxcount": 3})


def test_spacy_refuses_box_projects(boxes_project: Project, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="holds spans"):
        export(boxes_project, "spacy", tmp_path / "x")
