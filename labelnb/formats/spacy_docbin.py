"""spaCy ``DocBin`` files (``.spacy``) for span (NER) projects, and the text-span
alignment report every text format shares.

``to_spacy`` / ``from_spacy`` convert between :class:`TextRecord` s and spaCy ``Doc`` s;
``save_spacy`` / ``load_spacy`` write and read a ``.spacy`` file (what ``spacy train``
reads). spaCy is imported inside the functions (``pip install 'labelnb[nlp]'``).

Conventions:

* Offsets are Python ``str`` indices (code points), end exclusive, on both sides: spaCy's
  ``Doc.char_span`` counts the same way, so emoji, CJK, combining marks and CRLF need no
  conversion. Tokenization is ``spacy.blank(lang)``'s (no model download).
* A span becomes tokens through ``doc.char_span(start, end, label,
  alignment_mode=...)``: ``"strict"`` (default) keeps only spans whose both ends fall
  on token boundaries, ``"contract"`` shrinks to the tokens fully inside, ``"expand"``
  grows to every token touched. Every span that does not align as given - left out, or
  moved by contract/expand - is listed in the :class:`AlignmentReport` with its text
  id, offsets, label and the reason; none disappears silently.
  ``on_misaligned="raise"`` raises :class:`~labelnb.errors.FormatError` instead.
* Spans that overlap no other span go to ``Doc.ents`` (what the ``ner`` component
  trains on); every span, overlapping or not, goes to ``Doc.spans[spans_key]``
  (default ``"sc"``, what ``spancat`` trains on). Reading back takes
  ``Doc.spans[spans_key]`` plus any entity not already in it.
* The item id is kept in ``Doc.user_data["labelnb_id"]`` (the DocBin stores user data).

>>> recs = [TextRecord(1, "Anna flew to Paris 🇫🇷 today", (Span(0, 4, "PER"),
...                                                       Span(13, 18, "LOC")))]
>>> docs, report = to_spacy(recs)
>>> [(e.text, e.label_) for e in docs[0].ents], report.ok
([('Anna', 'PER'), ('Paris', 'LOC')], True)
>>> from_spacy(docs)[0].regions == recs[0].regions
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from labelnb.errors import FormatError, MissingExtra
from labelnb.types import Region, Span

AlignmentMode = Literal["strict", "contract", "expand"]
OnMisaligned = Literal["report", "raise"]
ALIGNMENT_MODES: tuple[str, ...] = ("strict", "contract", "expand")
USER_DATA_ID = "labelnb_id"


@dataclass(frozen=True, slots=True)
class TextRecord:
    """One text item of an export: its id, text, regions (spans or choices) and split."""

    id: int
    text: str
    regions: tuple[Region, ...] = ()
    split: str | None = None


@dataclass(frozen=True, slots=True)
class AlignmentIssue:
    """A span that did not align with the tokens as given.

    ``outcome`` is ``"dropped"`` (not written), ``"moved"`` (written at ``aligned``,
    the offsets contract/expand gave it) or, in spaCy DocBins, ``"spans_only"``
    (written to ``Doc.spans`` but not to ``Doc.ents``: it overlaps another span, and
    entities cannot overlap, so a ``ner`` model trains on its tokens as outside)."""

    text_id: int
    start: int
    end: int
    label: str
    reason: str
    outcome: Literal["dropped", "moved", "spans_only"] = "dropped"
    aligned: tuple[int, int] | None = None


@dataclass(slots=True)
class AlignmentReport:
    """Every span of an export that did not align with the tokens (see the module doc)."""

    mode: str = "strict"
    spans: int = 0
    issues: list[AlignmentIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def dropped(self) -> list[AlignmentIssue]:
        return [i for i in self.issues if i.outcome == "dropped"]

    @property
    def moved(self) -> list[AlignmentIssue]:
        return [i for i in self.issues if i.outcome == "moved"]

    @property
    def spans_only(self) -> list[AlignmentIssue]:
        return [i for i in self.issues if i.outcome == "spans_only"]

    def extend(self, other: AlignmentReport) -> None:
        self.spans += other.spans
        self.issues.extend(other.issues)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "spans": self.spans, "dropped": len(self.dropped),
                "moved": len(self.moved), "spans_only": len(self.spans_only),
                "issues": [asdict(i) for i in self.issues]}

    def __str__(self) -> str:
        head = (f"{self.spans} spans, {len(self.dropped)} left out and {len(self.moved)} moved "
                f"to token boundaries (alignment_mode={self.mode!r})"
                + (f"; {len(self.spans_only)} overlapping ones in Doc.spans only, not "
                   "Doc.ents" if self.spans_only else ""))
        lines = [f"  text {i.text_id} [{i.start}:{i.end}] {i.label!r}: {i.reason}"
                 for i in self.issues[:20]]
        more = [f"  ... and {len(self.issues) - 20} more"] if len(self.issues) > 20 else []
        return "\n".join([head, *lines, *more])


def check_alignment_options(alignment_mode: str, on_misaligned: str) -> None:
    if alignment_mode not in ALIGNMENT_MODES:
        raise FormatError(f"alignment_mode={alignment_mode!r}; expected one of "
                          f"{list(ALIGNMENT_MODES)}")
    if on_misaligned not in ("report", "raise"):
        raise FormatError(f"on_misaligned={on_misaligned!r}; expected 'report' or 'raise'")


def misaligned_reason(text: str, offsets: Sequence[tuple[int, int]], start: int, end: int
                      ) -> str:
    """Why ``text[start:end]`` is not a run of whole tokens (``offsets``: the tokens'
    ``(start, end)``), naming the token a boundary cuts."""
    if end > len(text):
        return f"the span ends at {end}, past the end of the text ({len(text)} code points)"
    for pos, which in ((start, "start"), (end, "end")):
        for ts, te in offsets:
            if ts < pos < te:
                return (f"its {which} ({pos}) falls inside the token {text[ts:te]!r} "
                        f"[{ts}:{te}]")
    if not any(ts < end and start < te for ts, te in offsets):
        return f"it covers no token (only whitespace: {text[start:end]!r})"
    return (f"a boundary falls on whitespace beside a token: {text[start:end]!r} is not a "
            "run of whole tokens")


def raise_or_record(report: AlignmentReport, issue: AlignmentIssue,
                    on_misaligned: OnMisaligned) -> None:
    if on_misaligned == "raise":
        raise FormatError(f"text {issue.text_id}: span [{issue.start}:{issue.end}] "
                          f"{issue.label!r} does not align with the tokens: {issue.reason}; fix "
                          "the span, or pass alignment_mode='expand'/'contract' or "
                          "on_misaligned='report'")
    report.issues.append(issue)


def _spacy() -> Any:
    try:
        import spacy
    except ImportError:
        raise MissingExtra("spacy", "nlp", "spaCy DocBin export") from None
    return spacy


def blank(lang: str = "en") -> Any:
    """``spacy.blank(lang)``: a tokenizer-only pipeline (nothing to download)."""
    try:
        return _spacy().blank(lang)
    except Exception as e:  # ImportError for an unknown language code
        raise FormatError(f"spacy.blank({lang!r}) failed ({e}); give a spaCy language code "
                          "such as 'en', 'de', 'zh' or 'xx'") from e


def _overlaps_any(i: int, spans: Sequence[Any]) -> bool:
    a = spans[i]
    return any(j != i and a.start < b.end and b.start < a.end for j, b in enumerate(spans))


def to_spacy(records: Iterable[TextRecord], *, lang: str = "en", nlp: Any = None,
             spans_key: str = "sc", alignment_mode: AlignmentMode = "strict",
             on_misaligned: OnMisaligned = "report") -> tuple[list[Any], AlignmentReport]:
    """spaCy ``Doc`` s for these texts (tokenized by ``nlp`` or ``spacy.blank(lang)``)
    and the report of the spans that did not align. Non-span regions are refused."""
    check_alignment_options(alignment_mode, on_misaligned)
    if not spans_key:
        raise FormatError("spans_key must be a non-empty string such as 'sc'")
    from spacy.tokens import Span as SpacySpan

    nlp = nlp if nlp is not None else blank(lang)
    report = AlignmentReport(mode=alignment_mode)
    docs = []
    for rec in records:
        doc = nlp.make_doc(rec.text)
        doc.user_data[USER_DATA_ID] = rec.id
        offsets = [(t.idx, t.idx + len(t)) for t in doc]
        kept: list[Any] = []
        for r in rec.regions:
            if not isinstance(r, Span):
                raise FormatError(f"text {rec.id}: spaCy DocBins hold spans, not "
                                  f"{type(r).__name__}; export this project to 'hf'")
            report.spans += 1
            sp = (doc.char_span(r.start, r.end, label=r.label, alignment_mode=alignment_mode)
                  if r.end <= len(rec.text) else None)
            if sp is None or len(sp) == 0:
                reason = misaligned_reason(rec.text, offsets, r.start, r.end)
                if alignment_mode == "contract" and r.end <= len(rec.text):
                    reason += "; no whole token lies inside it"
                raise_or_record(report, AlignmentIssue(rec.id, r.start, r.end, r.label, reason),
                                on_misaligned)
                continue
            if (sp.start_char, sp.end_char) != (r.start, r.end):
                reason = misaligned_reason(rec.text, offsets, r.start, r.end)
                raise_or_record(report, AlignmentIssue(
                    rec.id, r.start, r.end, r.label,
                    f"{reason}; {alignment_mode}ed to [{sp.start_char}:{sp.end_char}] "
                    f"{sp.text!r}", "moved", (sp.start_char, sp.end_char)), on_misaligned)
            if any((k.start, k.end, k.label_) == (sp.start, sp.end, sp.label_) for k in kept):
                continue  # the same span twice (or two that align to the same tokens)
            kept.append(SpacySpan(doc, sp.start, sp.end, label=r.label))
        kept.sort(key=lambda s: (s.start, s.end, s.label_))
        ents = []
        for i, s in enumerate(kept):
            if not _overlaps_any(i, kept):
                ents.append(s)
                continue
            other = next(b for j, b in enumerate(kept)
                         if j != i and s.start < b.end and b.start < s.end)
            report.issues.append(AlignmentIssue(
                rec.id, s.start_char, s.end_char, s.label_,
                f"it overlaps [{other.start_char}:{other.end_char}] {other.label_!r} "
                f"{other.text!r}: kept in Doc.spans[{spans_key!r}] (spancat), left out of "
                "Doc.ents (ner), whose entities cannot overlap", "spans_only",
                (s.start_char, s.end_char)))
        doc.ents = ents
        doc.spans[spans_key] = kept
        docs.append(doc)
    return docs, report


def from_spacy(docs: Iterable[Any], *, spans_key: str = "sc", split: str | None = None
               ) -> list[TextRecord]:
    """:class:`TextRecord` s from spaCy docs: ``Doc.spans[spans_key]`` plus the entities
    not in it, as :class:`~labelnb.types.Span` s sorted by offsets. A doc without a
    ``labelnb_id`` gets its position (from 1) as id."""
    out = []
    for n, doc in enumerate(docs, start=1):
        found: set[tuple[int, int, str]] = set()
        group = doc.spans[spans_key] if spans_key in doc.spans else []
        for s in [*group, *doc.ents]:
            found.add((s.start_char, s.end_char, s.label_))
        regions = tuple(Span(a, b, lab) for a, b, lab in sorted(found))
        out.append(TextRecord(int(doc.user_data.get(USER_DATA_ID, n)), doc.text, regions,
                              split))
    return out


def save_spacy(records: Iterable[TextRecord], path: str | os.PathLike[str], *,
               lang: str = "en", nlp: Any = None, spans_key: str = "sc",
               alignment_mode: AlignmentMode = "strict",
               on_misaligned: OnMisaligned = "report") -> AlignmentReport:
    """Write the texts to one ``.spacy`` file (``DocBin`` with user data); returns the
    alignment report."""
    from spacy.tokens import DocBin

    docs, report = to_spacy(records, lang=lang, nlp=nlp, spans_key=spans_key,
                            alignment_mode=alignment_mode, on_misaligned=on_misaligned)
    db = DocBin(store_user_data=True, docs=docs)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(p)
    return report


def load_spacy(path: str | os.PathLike[str], *, lang: str = "en", spans_key: str = "sc",
               split: str | None = None) -> list[TextRecord]:
    """Read a ``.spacy`` file (with ``spacy.blank(lang)``'s vocab) back to records."""
    _spacy()
    from spacy.tokens import DocBin

    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{str(p)!r}: the .spacy file does not exist; fix the path")
    try:
        db = DocBin().from_disk(p)
    except Exception as e:
        raise FormatError(f"{str(p)!r}: spaCy cannot read it as a DocBin ({e})") from e
    return from_spacy(db.get_docs(blank(lang).vocab), spans_key=spans_key, split=split)


__all__ = ["ALIGNMENT_MODES", "AlignmentIssue", "AlignmentMode", "AlignmentReport",
           "OnMisaligned", "TextRecord", "blank", "from_spacy", "load_spacy",
           "misaligned_reason", "save_spacy", "to_spacy"]
