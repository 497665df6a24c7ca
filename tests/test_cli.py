"""The ``labelnb`` command line, run in-process through ``main([...])`` (and once as a
real subprocess, to check what a user sees on an error)."""

from __future__ import annotations

import io
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb import cli
from labelnb.cli import main
from labelnb.queue import migrate
from labelnb.queue.store import Store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str) -> Any:
    def no_nan(c: str) -> None:
        raise AssertionError(f"not JSON: {c}")
    return json.loads(text, parse_constant=no_nan)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from labelnb.demo import save_sample_images

    folder = tmp_path_factory.mktemp("images")
    paths = save_sample_images(folder, ["coins", "chelsea", "coffee"])
    return {p.stem: p for p in paths}


# --- parser basics -----------------------------------------------------------------
def test_help_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("init", "add", "status", "annotators", "migrate", "demo"):
        assert command in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"labelnb {labelnb.__version__}"
    assert run(capsys,)[0] == 2  # no command
    code, _, err = run(capsys, "init", "x.db", "--name", "p", "--kind", "cuboids",
                       "--labels", "a")
    assert code == 2 and "invalid choice: 'cuboids'" in err


def test_python_dash_m_prints_error_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    proc = subprocess.run([sys.executable, "-m", "labelnb", "status", str(missing)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: database file")
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not missing.exists()  # a typo does not leave a stray database behind


# --- init ----------------------------------------------------------------------------
def test_init_creates_project_with_settings(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "labels.db")
    code, out, err = run(capsys, "init", db, "--name", "pets", "--kind", "boxes",
                         "--labels", "cat, dog ,bird", "--overlap", "2",
                         "--review-fraction", "0.25", "--lease-ttl", "120")
    assert code == 0, err
    assert "project 'pets' (boxes: cat, dog, bird)" in out
    p = labelnb.open(db, name="pets")
    assert p.schema.kind == "boxes"
    assert p.schema.names == ["cat", "dog", "bird"]
    assert p.settings["overlap"] == 2
    assert p.settings["review_fraction"] == 0.25
    assert p.settings["lease_ttl_s"] == 120
    p.close()

    code, _, err = run(capsys, "init", db, "--name", "pets", "--kind", "boxes",
                       "--labels", "cat")
    assert code == 2 and err.startswith("error: project 'pets' already exists")
    assert err.strip().endswith("already exists in database " + repr(str(Path(db).resolve()))
                                + "; use it (e.g. labelnb status DB --name 'pets'), or pass "
                                "--exist-ok")  # the CLI's own words, not Python's
    code, _, err = run(capsys, "init", db, "--name", "pets", "--kind", "boxes",
                       "--labels", "cat,dog,bird", "--exist-ok")
    assert code == 0, err


@pytest.mark.parametrize("argv, message", [
    (["--labels", ","], "--labels is empty"),
    (["--labels", "a,a"], "error:"),
    (["--labels", "a", "--overlap", "0"], "'overlap' is 0; give how many annotators"),
    (["--labels", "a", "--review-fraction", "1.5"], "'review_fraction' is 1.5; give the share"),
])
def test_init_rejects_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "init", str(tmp_path / "l.db"), "--name", "p", "--kind",
                         "choice", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_init_in_missing_folder_is_a_user_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "init", str(tmp_path / "no" / "such" / "l.db"), "--name", "p",
                       "--kind", "choice", "--labels", "a,b")
    assert code == 2 and "does not exist" in err


# --- add -----------------------------------------------------------------------------
def test_add_images_by_path_glob_and_folder(tmp_path: Path, images: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    assert run(capsys, "init", db, "--name", "img", "--kind", "boxes", "--labels", "x")[0] == 0
    code, out, err = run(capsys, "add", db, str(images["coins"]), "--group", "batch1")
    assert code == 0, err
    assert "added 1 new item to 'img'; 1 items in all" in out
    # a glob (quoted, so the CLI expands it) after an option, plus a duplicate
    code, out, err = run(capsys, "add", db, "--name", "img",
                         str(images["coins"].parent / "c*.png"), str(images["coins"]))
    assert code == 0, err
    assert ("added 2 new items to 'img' (1 already there, 1 given more than once); 3 items "
            "in all") in out  # (coins.png: already there, and given twice)
    code, out, _ = run(capsys, "add", db, str(images["coins"].parent))
    assert code == 0 and "added 0 new items" in out and "3 items in all" in out

    items = labelnb.open(db).items().set_index("uri")
    assert sorted(Path(u).name for u in items.index) == ["chelsea.png", "coffee.png",
                                                         "coins.png"]
    coins = items.loc[str(images["coins"])]
    assert (coins["width"], coins["height"]) == (384, 303)
    assert coins["group_key"] == "batch1"
    chelsea = items.loc[str(images["chelsea"])]
    assert (chelsea["width"], chelsea["height"]) == (451, 300)


def test_add_texts_from_args_file_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "ner", "--kind", "spans", "--labels", "PER,ORG")
    code, out, err = run(capsys, "add", db, "--text", "Ada met Bob.", "Bob met Ada.")
    assert code == 0, err
    assert "added 2 new items" in out
    lines = tmp_path / "texts.txt"
    lines.write_text("Grace joined the Navy.\n\n  Ada met Bob.  \nKatherine at NASA.\n",
                     encoding="utf-8")
    code, out, err = run(capsys, "add", db, "--text", "--from-file", str(lines))
    assert code == 0, err
    assert "added 2 new items to 'ner' (1 already there); 4 items in all" in out
    # a line is a text, up to "\n": a U+2028 inside it does not split it
    monkeypatch.setattr(sys, "stdin", io.StringIO("From stdin.\r\nOne\u2028text.\n"))
    code, out, err = run(capsys, "add", db, "--text", "--from-file", "-")
    assert code == 0, err
    texts = list(labelnb.open(db).items()["text"])
    assert texts == ["Ada met Bob.", "Bob met Ada.", "Grace joined the Navy.",
                     "Katherine at NASA.", "From stdin.", "One\u2028text."]


def test_add_paths_from_file(tmp_path: Path, images: dict[str, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "img", "--kind", "choice", "--labels", "a,b")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{images['coins']}\n{images['coffee']}\n", encoding="utf-8")
    code, out, err = run(capsys, "add", db, "--from-file", str(listing))
    assert code == 0, err
    items = labelnb.open(db).items()
    assert list(items["media"]) == ["image", "image"]
    assert [(w, h) for w, h in zip(items["width"], items["height"], strict=True)] == [
        (384, 303), (600, 400)]


def test_add_errors(tmp_path: Path, images: dict[str, Path],
                    capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "img", "--kind", "boxes", "--labels", "x")
    run(capsys, "init", db, "--name", "txt", "--kind", "spans", "--labels", "PER")

    code, _, err = run(capsys, "add", db, "--name", "img", "nosuch.png")
    assert code == 2 and "error: item 'nosuch.png': no such file" in err and "--text" in err
    code, _, err = run(capsys, "add", db, "--name", "img")
    assert code == 2 and "no items given" in err
    code, _, err = run(capsys, "add", db, str(images["coins"]))
    assert code == 2 and "holds 2 projects (img, txt); pick one with --name" in err
    code, _, err = run(capsys, "add", db, "--name", "txt", str(images["coins"]))
    assert code == 2 and "'spans' project labels text" in err
    code, _, err = run(capsys, "add", db, "--name", "img", "--from-file", "missing.txt")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "add", db, "--name", "img", str(images["coins"]), "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
    # nothing was written by the failed calls
    assert labelnb.open(db, name="img").items().empty
    assert labelnb.open(db, name="txt").items().empty


# --- status --------------------------------------------------------------------------
def _worked_project(db: str) -> None:
    p = labelnb.Project.create(db, "reviews", labelnb.Schema("choice", ["pos", "neg"]),
                               overlap=2, review_fraction=1.0)
    p.add_items(["great film", "dull plot", "fine"])
    p.annotators.add("rita", role="reviewer")
    for who, label in (("ana", "pos"), ("ben", "neg")):
        q = p.queue(who)
        q.claim()
        q.submit(labelnb.Choice(label), duration_s=2.0)
    r = p.review_queue("rita")
    r.claim()
    r.approve()
    p.add_predictions("m1", {3: [labelnb.Choice("pos", score=0.8)]})
    p.close()


def test_status_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    _worked_project(db)
    code, out, err = run(capsys, "status", db)
    assert code == 0, err
    assert "project 'reviews': choice, schema v1 (pos, neg)" in out
    assert "overlap 2, review fraction 1, lease 600 s" in out
    assert "items        3 (text 3)" in out
    assert "progress     1 of 3 items done (33.3%)" in out
    assert "annotations  2 (human 2)" in out
    assert "predictions  1" in out
    lines = [ln.split() for ln in out.splitlines()]
    assert ["stage", "open", "done", "total"] in lines
    assert ["annotate", "4", "2", "6"] in lines
    assert ["review", "1", "1", "2"] in lines
    assert ["ana", "annotator", "1", "2", "1", "0", "0"] in lines
    assert ["rita", "reviewer", "0", "-", "0", "0", "0"] in lines

    code, out, err = run(capsys, "status", db, "--name", "reviews", "--json")
    assert code == 0, err
    st = strict_json(out)
    assert st["project"] == "reviews" and st["kind"] == "choice"
    assert st["labels"] == ["pos", "neg"]
    assert st["settings"] == {"overlap": 2, "review_fraction": 1.0, "lease_ttl_s": 600.0}
    assert st["items"] == 3 and st["items_done"] == 1
    assert st["progress"] == pytest.approx(1 / 3, abs=1e-4)
    assert st["tasks"] == {"annotate:open": 4, "annotate:done": 2, "review:open": 1,
                           "review:done": 1}
    assert st["annotations_by_source"] == {"human": 2}
    assert st["predictions"] == 1
    rita = next(a for a in st["annotators"] if a["annotator"] == "rita")
    assert rita["mean_duration_s"] is None  # NaN would not be JSON


def test_status_of_several_projects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "a", "--kind", "choice", "--labels", "x,y")
    run(capsys, "init", db, "--name", "b", "--kind", "spans", "--labels", "PER")
    run(capsys, "add", db, "--name", "b", "--text", "one", "two")
    code, out, _ = run(capsys, "status", db)
    assert code == 0
    assert "project 'a'" in out and "project 'b'" in out
    assert "none (add items with 'labelnb add')" in out
    code, out, _ = run(capsys, "status", db, "--json")
    assert [(s["project"], s["items"]) for s in strict_json(out)] == [("a", 0), ("b", 2)]


def test_status_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "l.db"
    code, _, err = run(capsys, "status", str(db))
    assert code == 2 and "does not exist" in err and not db.exists()
    db.touch()
    run(capsys, "migrate", str(db))  # an empty, migrated database
    code, _, err = run(capsys, "status", str(db))
    assert code == 2 and "holds no project" in err
    run(capsys, "init", str(db), "--name", "a", "--kind", "choice", "--labels", "x")
    code, _, err = run(capsys, "status", str(db), "--name", "zzz")
    assert code == 2 and "error: project 'zzz' is not in" in err
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite", encoding="utf-8")
    code, _, err = run(capsys, "status", str(junk))
    assert code == 2 and "not a SQLite database" in err
    code, _, err = run(capsys, "status", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, _, err = run(capsys, "status", "mysql://host/db")
    assert code == 2 and "supports SQLite files and PostgreSQL" in err


# --- annotators ----------------------------------------------------------------------
def test_annotators_add_list_update(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "p", "--kind", "choice", "--labels", "cat,dog")
    code, out, _ = run(capsys, "annotators", db, "list")
    assert code == 0 and "no annotators yet" in out
    code, out, err = run(capsys, "annotators", db, "add", "ana", "--role", "annotator",
                         "--skills", "cat=0.9,dog=0.7", "--qualifications", "senior,vet",
                         "--languages", "en,de")
    assert code == 0, err
    assert "added annotator 'ana' to project 'p'" in out
    # --name may come after the action too
    code, out, err = run(capsys, "annotators", db, "add", "rita", "--role", "reviewer",
                         "--name", "p")
    assert code == 0, err

    prof = labelnb.open(db).annotators["ana"]
    assert prof.role == "annotator"
    assert prof.skills == {"cat": 0.9, "dog": 0.7}
    assert prof.qualifications == ("senior", "vet")
    assert prof.languages == ("en", "de")

    code, out, err = run(capsys, "annotators", db, "--name", "p", "update", "ana",
                         "--role", "lead", "--languages", "fr", "--inactive")
    assert code == 0, err
    assert "role=lead" in out and "active=False" in out
    prof = labelnb.open(db).annotators["ana"]
    assert (prof.role, prof.languages, prof.active) == ("lead", ("fr",), False)
    assert prof.skills == {"cat": 0.9, "dog": 0.7}  # untouched fields are kept

    code, out, _ = run(capsys, "annotators", db, "list")
    rows = [ln.split() for ln in out.splitlines()]
    assert rows[0] == ["name", "role", "active", "annotations", "skills", "qualifications",
                       "languages"]
    assert rows[1] == ["ana", "lead", "no", "0", "cat=0.9,dog=0.7", "senior,vet", "fr"]
    assert rows[2] == ["rita", "reviewer", "yes", "0", "-", "-", "-"]
    code, out, _ = run(capsys, "annotators", db, "list", "--json")
    data = strict_json(out)
    assert [(a["name"], a["role"], a["active"]) for a in data] == [
        ("ana", "lead", False), ("rita", "reviewer", True)]


@pytest.mark.parametrize("argv, message", [
    (["add", "ana"], "already exists"),
    (["add", "bob", "--skills", "cat"], "is not LABEL=ACCURACY"),
    (["add", "bob", "--skills", "cat=1.5"], "must be an accuracy in [0, 1]"),
    (["update", "zoe", "--role", "lead"], "'zoe' is not in project"),
    (["update", "ana"], "nothing to change"),
])
def test_annotators_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           argv: list[str], message: str) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "p", "--kind", "choice", "--labels", "cat,dog")
    run(capsys, "annotators", db, "add", "ana")
    code, _, err = run(capsys, "annotators", db, *argv)
    assert code == 2
    assert err.startswith("error:") and message in err


def test_annotators_bad_role_is_a_usage_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "l.db")
    run(capsys, "init", db, "--name", "p", "--kind", "choice", "--labels", "cat")
    code, _, err = run(capsys, "annotators", db, "add", "ana", "--role", "boss")
    assert code == 2 and "invalid choice: 'boss'" in err


# --- migrate -------------------------------------------------------------------------
def test_migrate_fresh_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "fresh.db"
    # a path with no file is a typo, not a database to make (it made a new, empty one)
    code, _, err = run(capsys, "migrate", str(db))
    assert code == 2 and "does not exist" in err and not db.exists()
    db.touch()  # an empty SQLite database, as sqlite3 makes it
    code, out, err = run(capsys, "migrate", str(db))
    assert code == 0, err
    head = migrate.head_revision()
    assert f"migrated schema revision (empty) -> {head}" in out
    store = Store(db, migrate=False)
    try:
        assert migrate.current_revision(store) == head
        assert {"projects", "items", "tasks", "annotations"} <= set(store.table_names())
    finally:
        store.dispose()
    code, out, _ = run(capsys, "migrate", str(db))
    assert code == 0 and f"schema revision {head} is current; nothing to do" in out
    # the migrated database is usable as is
    assert run(capsys, "init", str(db), "--name", "p", "--kind", "choice",
               "--labels", "a")[0] == 0


def test_migrate_refuses_a_newer_database(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "l.db"
    db.touch()
    assert run(capsys, "migrate", str(db))[0] == 0
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    code, _, err = run(capsys, "migrate", str(db))
    assert code == 2 and "newer labelnb" in err and "Traceback" not in err


# --- demo ----------------------------------------------------------------------------
def test_demo_no_browser_builds_projects(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import skimage.data

    from labelnb import demo

    folder = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--no-browser", "--dir", str(folder))
    assert code == 0, err
    db = folder / "labels.db"
    assert db.is_file()
    assert str(db) in out and "project 'images'" in out and "project 'ner'" in out

    images = labelnb.open(db, name="images")
    assert images.schema.kind == "boxes"
    assert images.schema.names == list(demo.IMAGE_LABELS)
    items = images.items()
    assert [Path(u).name for u in items["uri"]] == [f"{n}.png" for n in demo.SAMPLE_IMAGES]
    for name, uri, w, h in zip(demo.SAMPLE_IMAGES, items["uri"], items["width"],
                               items["height"], strict=True):
        arr = getattr(skimage.data, name)()
        assert (h, w) == arr.shape[:2], name
        assert Path(uri).is_file() and Path(uri).parent == (folder / "images").resolve()
        assert images.load_image(int(items.loc[items["uri"] == uri, "id"].iloc[0])).size == (w, h)
    preds = images.predictions()
    assert list(preds["model_version"]) == ["skimage-watershed"]
    coins = [labelnb.Region.from_json(r) for r in preds["regions"].iloc[0]]
    assert len(coins) == 24
    assert all(b.label == "coin" and 0 <= b.x0 < b.x1 <= 384 and 0 <= b.y0 < b.y1 <= 303
               for b in coins)  # type: ignore[attr-defined]
    assert images.stats()["tasks"] == {"annotate:open": 12}  # overlap 2
    assert {"ana", "ben", "rita"} <= set(images.annotators.table()["name"])

    ner = labelnb.open(db, name="ner")
    assert ner.schema.kind == "spans" and ner.schema.names == ["PER", "ORG", "LOC"]
    texts = ner.items()
    assert list(texts["text"]) == list(demo.SAMPLE_TEXTS)
    spans = ner.predictions()
    assert set(spans["source"]) == {"labeling_function"}
    for item_id, regs in zip(spans["item_id"], spans["regions"], strict=True):
        text = texts.loc[texts["id"] == item_id, "text"].iloc[0]
        for r in regs:
            assert demo.GAZETTEER[text[r["start"]:r["end"]]] == r["label"]
    images.close()
    ner.close()

    # idempotent: a second run reuses everything
    code, out2, err = run(capsys, "demo", "--no-browser", "--dir", str(folder))
    assert code == 0, err
    assert out2 == out
    again = labelnb.open(db, name="images")
    assert len(again.items()) == len(demo.SAMPLE_IMAGES)
    assert len(again.predictions()) == 1
    assert len(labelnb.open(db, name="ner").items()) == len(demo.SAMPLE_TEXTS)


def test_demo_launches_jupyterlab_on_the_quickstart(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    class FakePopen:
        def __init__(self, cmd: list[str], *, cwd: Path, env: dict[str, str]) -> None:
            calls.append({"cmd": cmd, "cwd": Path(cwd), "env": env})

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    monkeypatch.chdir(tmp_path)  # the notebook is found next to the package, not in cwd
    code, _, err = run(capsys, "demo", "--port", "8899")
    assert code == 0, err
    (call,) = calls
    db = tmp_path / "demo-project" / "labels.db"
    assert db.is_file()
    expected = [sys.executable, "-m", "jupyter", "lab",
                str(Path("notebooks") / "01_quickstart.ipynb"), "--port=8899"]
    if os.geteuid() == 0:  # Jupyter refuses to run as root without it (containers, CI)
        expected.append("--allow-root")
    assert call["cmd"] == expected
    assert (call["cwd"] / "notebooks" / "01_quickstart.ipynb").is_file()
    assert call["env"]["LABELNB_DEMO_DB"] == str(db)


def test_coin_boxes_and_gazetteer() -> None:
    from labelnb import demo

    boxes = demo.coin_boxes()
    assert len(boxes) == 24
    assert min(b.area for b in boxes) > 900  # no specks
    assert demo.gazetteer_spans("Guido van Rossum created Python at CWI in Amsterdam.") == [
        labelnb.Span(0, 16, "PER"), labelnb.Span(35, 38, "ORG"), labelnb.Span(42, 51, "LOC")]
    # whole words only, longest match wins
    assert demo.gazetteer_spans("MITRE in Londonderry", {"MIT": "ORG", "London": "LOC"}) == []
    assert demo.gazetteer_spans("US Navy", {"US": "LOC", "US Navy": "ORG"}) == [
        labelnb.Span(0, 7, "ORG")]


# --- the same commands on PostgreSQL -------------------------------------------------
@pytest.mark.postgres
def test_cli_on_postgresql(pg_schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "migrate", pg_schema)
    assert code == 0, err
    assert "migrated schema revision (empty) ->" in out
    assert run(capsys, "init", pg_schema, "--name", "team", "--kind", "spans",
               "--labels", "PER,ORG")[0] == 0
    assert run(capsys, "add", pg_schema, "--text", "Ada met Bob.", "Grace at NASA.")[0] == 0
    assert run(capsys, "annotators", pg_schema, "add", "rita", "--role", "reviewer")[0] == 0
    code, out, err = run(capsys, "status", pg_schema, "--json")
    assert code == 0, err
    (st,) = strict_json(out)
    assert st["project"] == "team" and st["items"] == 2
    assert st["tasks"] == {"annotate:open": 2}
    assert [a["annotator"] for a in st["annotators"]] == ["rita"]


def test_export_coco_from_the_command_line(tmp_path: Path) -> None:
    import json

    import numpy as np
    from PIL import Image

    import labelnb
    from labelnb.cli import main

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(img)
    db = tmp_path / "x.db"
    p = labelnb.Project.create(db, "x", labelnb.Schema("boxes", ["cat"]))
    p.add_items([img])
    q = p.queue("ana")
    q.claim()
    q.submit(labelnb.Box(1, 2, 11, 12, "cat"))
    p.close()
    out = tmp_path / "coco"
    assert main(["export", str(db), "--format", "coco", "--out", str(out)]) == 0
    files = list(out.rglob("*.json"))
    coco = [json.loads(f.read_text()) for f in files if "annotations" in f.read_text()][0]
    assert coco["annotations"][0]["bbox"] == [1.0, 2.0, 10.0, 10.0]
    assert main(["export", str(db), "--format", "coco", "--out", str(out),
                 "--split", "train=oops"]) == 2


def test_errors_name_the_cli_options_not_python_arguments(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The library's fixes say ``overwrite=True``; the command line says ``--overwrite``."""
    db = str(tmp_path / "w.db")
    assert run(capsys, "init", db, "--name", "p", "--kind", "choice", "--labels", "a,b")[0] == 0
    assert run(capsys, "annotators", db, "add", "ana")[0] == 0
    code, _, err = run(capsys, "annotators", db, "add", "ana")
    assert code == 2 and f"use labelnb annotators {shlex.quote(db)} update NAME" in err
    code, _, err = run(capsys, "annotators", db, "update", "nobody", "--role", "reviewer")
    assert code == 2 and f"add them with labelnb annotators {shlex.quote(db)} add nobody" in err
    # with --name (a database of several projects) the suggested command has it too, and
    # it runs as suggested
    code, _, err = run(capsys, "annotators", db, "--name", "p", "update", "zed", "--role",
                       "reviewer")
    fix = err.split("add them with ", 1)[1].split(";")[0].strip().rstrip(".")
    assert code == 2 and fix == f"labelnb annotators {shlex.quote(db)} --name p add zed", err
    assert run(capsys, *shlex.split(fix)[1:])[0] == 0
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"text": "x", "label": "cow"}\n')
    code, _, err = run(capsys, "import", db, "--format", "jsonl", str(bad))
    assert code == 2 and "--label-map OLD=NEW" in err and "label_map=" not in err


def test_init_exist_ok_applies_the_settings_given(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--exist-ok on an existing project applies the settings given on the command line
    (they were silently ignored) and leaves the others as they are."""
    db = str(tmp_path / "e.db")
    base = ["init", db, "--name", "pets", "--kind", "boxes", "--labels", "cat,dog"]
    assert run(capsys, *base, "--overlap", "2")[0] == 0
    code, out, _ = run(capsys, *base, "--overlap", "5", "--exist-ok")
    assert code == 0 and "changed overlap 2 -> 5" in out and "overlap 5," in out
    code, out, _ = run(capsys, *base, "--exist-ok")  # nothing given: nothing changed
    assert code == 0 and "changed" not in out and "overlap 5," in out
    import labelnb

    p = labelnb.open(db)
    assert p.settings["overlap"] == 5 and p.settings["review_fraction"] == 0.0
    p.close()


def test_a_closed_pipe_is_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """labelnb status --json | head: the reader leaves early; that is no 'error: [Errno
    32] Broken pipe' on stderr (the user-error path)."""
    import subprocess

    db = str(tmp_path / "p.db")
    run(capsys, "init", db, "--name", "pets", "--kind", "choice", "--labels", "a,b")
    proc = subprocess.Popen([sys.executable, "-m", "labelnb", "status", db, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as head does once it has its bytes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Broken pipe" not in err and "error" not in err and "Exception" not in err

