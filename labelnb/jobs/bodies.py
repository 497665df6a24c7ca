"""The bodies of labelnb's GPU jobs: the same functions run locally and on Modal.

``gpu_jobs/`` wraps them into Modal apps; :func:`labelnb.jobs.submit` with
``backend="local"`` calls them in this process. Payloads and results are plain
JSON-like values and bytes, so that they cross to Modal unchanged.

* ``sam_embed``: ``{"model": {...}, "images": [png/jpeg bytes, ...]}`` →
  ``{"model_id": str, "embeddings": [{"features": float16 bytes, "shape": [...],
  "original_size": [h, w], "input_size": [h, w]}, ...]}``;
* ``retrain``: ``{"train": {"texts"|"features": [...], "labels": [...]}, "val": {...},
  "config": {...}}`` or ``{"dataset_path": <HF dataset saved by labelnb.export>, ...}`` →
  ``{"metrics": {...}, "weights": pickled model bytes, "config": {...}}``. A dataset
  needs a ``train`` split and ``text`` and ``label`` columns (a ``ClassLabel`` or plain
  strings or numbers); ``"val_split"`` names the held-out split (default: the first of
  ``validation``, ``val``, ``valid``, ``dev``, ``test``), and a name it does not have is
  refused.

The model config of ``sam_embed`` is ``{"model_type": "vit_h", "checkpoint": path/URL,
"sha256": ...}``, or ``{"tiny": true, "seed": 0}`` for the randomly initialised tiny
SAM the tests use.
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelnb.errors import ValidationError

Log = Callable[[str], None]

_MODELS: dict[str, Any] = {}


def _noop(_msg: str) -> None:
    return None


def _tiny_seed(config: Mapping[str, Any]) -> int:
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(f"sam_embed: field 'model.seed' is {seed!r:.60}; give an integer "
                              ">= 0 (the tiny SAM's random seed, default 0)")
    return int(seed)


def _check_sha256(sha256: Any) -> None:
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdefABCDEF" for c in sha256)):
        raise ValidationError(f"sam_embed: field 'sha256' is {sha256!r:.80}; give the "
                              "checkpoint's sha256 as 64 hex digits (sha256sum FILE), or leave "
                              "it out")


def model_id_for(config: Mapping[str, Any]) -> str:
    """The ``model_id`` (embedding-cache key) a model config loads as: an explicit
    ``model_id``, else :func:`~labelnb.segment.sam.checkpoint_model_id` of the checkpoint,
    the rule :class:`~labelnb.segment.sam.TorchSam` names the same weights by.

    A checkpoint that is not a file on this machine (a path on a Modal Volume) and comes
    without ``sha256`` cannot be named here (two such files, ``/weights/base/sam.pth``
    and ``/weights/ft/sam.pth``, are not told apart by their paths), so it is refused.
    """
    if config.get("model_id"):
        return str(config["model_id"])
    if config.get("tiny"):
        return f"tiny-sam:{_tiny_seed(config)}"
    if "checkpoint" not in config:
        raise ValidationError("sam_embed: the model config needs 'checkpoint' (a path or URL) "
                              "or 'tiny': true")
    from labelnb.segment.sam import CHECKPOINTS, checkpoint_model_id

    model_type = str(config.get("model_type", "vit_h"))
    checkpoint, sha256 = str(config["checkpoint"]), config.get("sha256")
    if checkpoint == "default":  # the published weights, named as TorchSam names them
        if model_type not in CHECKPOINTS:
            raise ValidationError(
                f"sam_embed: field 'model_type' is {model_type!r}, which has no published "
                f"weights for checkpoint='default' (those of {sorted(CHECKPOINTS)}); give one "
                "of them, or a 'checkpoint' path or URL")
        checkpoint, sha256 = CHECKPOINTS[model_type]
    _check_sha256(sha256)
    if not sha256 and "://" not in checkpoint and not Path(checkpoint).is_file():
        raise ValidationError(
            f"sam_embed: field 'checkpoint' is {checkpoint!r}, which is not a file on this "
            "machine (a path on a Modal Volume?), so its weights cannot be named here and "
            "would share cached embeddings with any other file of that path; give field "
            "'sha256' (the file's digest: sha256sum FILE) or field 'model_id' (a name unique "
            "to these weights)")
    return checkpoint_model_id(model_type, checkpoint, sha256)


def load_sam(config: Mapping[str, Any]) -> Any:
    """A :class:`~labelnb.segment.sam.TorchSam` for a model config, loaded once per process."""
    from labelnb.segment.sam import TorchSam, tiny_sam

    key = repr(sorted(config.items()))
    if key not in _MODELS:
        device = str(config.get("device", "auto"))
        if config.get("tiny"):
            _MODELS[key] = TorchSam(model=tiny_sam(seed=_tiny_seed(config)),
                                    model_id=model_id_for(config), device=device)
        else:
            if "checkpoint" not in config:
                model_id_for(config)  # raises the error that names the missing field
            _check_sha256(config.get("sha256"))
            # TorchSam names the weights by the rule of model_id_for (a checkpoint missing
            # here is reported as missing, not as unnamed)
            _MODELS[key] = TorchSam(str(config.get("model_type", "vit_h")), config["checkpoint"],
                                    sha256=config.get("sha256"),
                                    model_id=config.get("model_id") or None, device=device)
    return _MODELS[key]


def embed_images(sam: Any, images: Sequence[bytes], log: Log = _noop,
                 cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Embed encoded images with a loaded SAM (see the module for the result)."""
    from labelnb.media import decode_image, eight_bit

    out = []
    for i, data in enumerate(images):
        if cancelled():
            raise InterruptedError(f"sam_embed: cancelled after {i} of {len(images)} images")
        # as the widgets see it: EXIF orientation applied, 8 bits per channel
        im = eight_bit(decode_image(bytes(data), f"sam_embed: image {i + 1}"))
        arr = np.asarray(im.convert("RGB"))
        emb = sam.embed(arr)
        f = np.ascontiguousarray(emb.features.astype(np.float16))
        out.append({"features": f.tobytes(), "shape": list(f.shape),
                    "original_size": list(emb.original_size),
                    "input_size": list(emb.input_size)})
        log(f"embedded image {i + 1}/{len(images)} ({arr.shape[1]}x{arr.shape[0]})")
    if images and cancelled():  # a cancel during the last image: its result is not kept
        raise InterruptedError(f"sam_embed: cancelled after {len(images)} of {len(images)} "
                               "images")
    return {"model_id": sam.model_id, "embeddings": out}


def sam_embed(payload: Mapping[str, Any], log: Log = _noop,
              cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """The ``sam_embed`` job."""
    _check_payload(payload, "sam_embed", "{'model': {...}, 'images': [png/jpeg bytes, ...]}")
    if "images" not in payload or "model" not in payload:
        raise ValidationError("sam_embed: the payload needs 'model' (a model config) and "
                              "'images' (a list of encoded images)")
    model, images = payload["model"], payload["images"]
    if not isinstance(model, Mapping):
        raise ValidationError(f"sam_embed: field 'model' is a {type(model).__name__} "
                              f"({model!r:.60}), not a model config; give "
                              "{'model_type': 'vit_h', 'checkpoint': path or URL} or "
                              "{'tiny': true}")
    if not isinstance(images, list | tuple):
        raise ValidationError(f"sam_embed: field 'images' is a {type(images).__name__}; give "
                              "a list of encoded images (PNG/JPEG bytes), one entry per image")
    for i, data in enumerate(images):
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError(f"sam_embed: field 'images', image {i + 1} (row {i}, "
                                  f"0-based) is a {type(data).__name__}, not bytes; give the "
                                  "encoded file "
                                  "(e.g. Path(...).read_bytes())")
    return embed_images(load_sam(model), images, log, cancelled)


def _check_payload(payload: Any, job: str, shape: str) -> None:
    if not isinstance(payload, Mapping):
        raise ValidationError(f"{job}: the payload is a {type(payload).__name__} "
                              f"({payload!r:.60}), not a dict; give {shape}")


def _split(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if "dataset_path" in payload:
        from datasets import load_from_disk

        path = str(payload["dataset_path"])
        try:
            ds = load_from_disk(path)
        except FileNotFoundError as e:
            raise ValidationError(f"retrain: field 'dataset_path' is {path!r}: {e}; give the "
                                  "folder of labelnb.export(project, 'hf', path, split=...)"
                                  ) from None
        if not hasattr(ds, "keys") or "train" not in ds:
            have = f"splits {sorted(ds)}" if hasattr(ds, "keys") else "one unsplit dataset"
            raise ValidationError(f"retrain: {payload['dataset_path']} holds {have}, no "
                                  "'train' split; export with split={'train': 0.8, 'validation': "
                                  "0.2} (labelnb.export(project, 'hf', path, split=...))")
        col = "text" if "text" in ds["train"].column_names else None
        if col is None or "label" not in ds["train"].column_names:
            raise ValidationError(f"retrain: {payload['dataset_path']}: expected a text "
                                  f"classification dataset with 'text' and 'label' columns, "
                                  f"got {ds['train'].column_names}")
        wanted = payload.get("val_split")
        names_present = [n for n in ds if n != "train"]
        if wanted is not None and (wanted not in names_present or not isinstance(wanted, str)):
            why = ("the training split; validating on it measures nothing"
                   if wanted == "train" else "not a split of it")
            raise ValidationError(f"retrain: field 'val_split' is {wanted!r}, {why} "
                                  f"({payload['dataset_path']} has splits {sorted(ds)}); give "
                                  f"one of {names_present}, or leave it out")
        val_name = (wanted if wanted is not None else next(
            (n for n in ("validation", "val", "valid", "dev", "test") if n in ds), None))
        if val_name is None:
            raise ValidationError(f"retrain: {payload['dataset_path']} has splits "
                                  f"{sorted(ds)}; name the held-out one with "
                                  f"'val_split' (one of {names_present}), or export with "
                                  f"split={{'train': 0.8, 'validation': 0.2}}")
        return (_hf_split(ds["train"], "train", path), _hf_split(ds[val_name], val_name, path))
    try:
        train, val = payload["train"], payload["val"]
    except KeyError as e:
        raise ValidationError("retrain: give 'dataset_path' (a labelnb HF export) or 'train' and "
                              "'val' ({'texts' or 'features': [...], 'labels': [...]})") from e
    return _given_split(train, "train"), _given_split(val, "val")


_SPLIT_SHAPE = "{'texts': [...], 'labels': [...]} or {'features': [[...], ...], 'labels': [...]}"


def _given_split(split: Any, name: str) -> dict[str, Any]:
    """A split given in the payload, checked: a mapping with ``labels`` and one of
    ``texts`` or ``features``."""
    if not isinstance(split, Mapping):
        raise ValidationError(f"retrain: field {name!r} is a {type(split).__name__}; give "
                              f"{_SPLIT_SHAPE}")
    inputs = [k for k in ("texts", "features") if k in split]
    if len(inputs) == 2:
        wrong = "both 'texts' and 'features' (which one?)"
    elif not inputs:
        wrong = "no 'texts' or 'features'"
    elif "labels" not in split:
        wrong = "no 'labels'"
    else:
        out = dict(split)
        kind = inputs[0]
        for field in (kind, "labels"):
            v = out[field]
            if isinstance(v, str | bytes):  # would be split into characters
                raise ValidationError(f"retrain: field '{name}.{field}' is one string; give a "
                                      "list, one entry per example")
            if not isinstance(v, list | tuple | np.ndarray):
                raise ValidationError(f"retrain: field '{name}.{field}' is a "
                                      f"{type(v).__name__}; give a list, one entry per "
                                      "example")
        if kind == "texts":
            for row, t in enumerate(out["texts"]):
                if not isinstance(t, str):
                    raise ValidationError(f"retrain: field '{name}.texts', row {row} "
                                          f"(0-based) is {t!r:.60}, not a string; give a "
                                          "text, or drop the row (and its label)")
        else:
            out["features"] = _features(out["features"], name)
        out["labels"] = _labels(out["labels"], f"'{name}.labels'")
        return out
    raise ValidationError(f"retrain: field {name!r} has keys {sorted(map(str, split))}, "
                          f"{wrong}; give {_SPLIT_SHAPE}")


def _features(rows: Any, name: str) -> Any:
    """``rows`` as a float matrix, each row checked: a list of finite numbers, all rows
    as long as the first."""
    try:  # the common case in one step; a row at a time only to name what is wrong
        whole = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        whole = None
    if whole is not None and whole.ndim == 2 and np.isfinite(whole).all():
        return whole
    width: int | None = None
    for row, r in enumerate(rows):
        where = f"retrain: field '{name}.features', row {row} (0-based)"
        if isinstance(r, str | bytes) or not isinstance(r, list | tuple | np.ndarray):
            raise ValidationError(f"{where} is {r!r:.60}, not a list of numbers; give one "
                                  "list of numbers per example")
        try:
            vec = np.asarray(r, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(f"{where} is {r!r:.60}, not a list of numbers; give one "
                                  "list of numbers per example") from None
        if vec.ndim != 1:
            raise ValidationError(f"{where} has shape {list(vec.shape)}; give a flat list of "
                                  "numbers per example")
        if width is None:
            width = len(vec)
        elif len(vec) != width:
            raise ValidationError(f"{where} has {len(vec)} numbers and row 0 has {width}; "
                                  "give every example the same number of features")
        bad = np.flatnonzero(~np.isfinite(vec))
        if bad.size:
            raise ValidationError(f"{where}, feature {int(bad[0])} is {vec[bad[0]]}; give "
                                  "finite numbers (impute or drop the missing values)")
    if width is None:
        return np.empty((0, 0), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64).reshape(-1, width)


def _labels(labels: Any, field: str) -> list[Any]:
    """The labels as a list, each a string or a whole number, all of one kind."""
    out = [v.item() if isinstance(v, np.generic) else v for v in labels]
    kinds: dict[str, int] = {}
    for row, v in enumerate(out):
        if (isinstance(v, bool) or not isinstance(v, str | int | float)
                or (isinstance(v, float) and not (math.isfinite(v) and v.is_integer()))):
            raise ValidationError(f"retrain: field {field}, row {row} (0-based) is {v!r:.60}, "
                                  "not a label; give a string or an integer (drop unlabeled "
                                  "rows)")
        kinds.setdefault("a string" if isinstance(v, str) else "a number", row)
    if len(kinds) > 1:
        (k0, r0), (k1, r1) = sorted(kinds.items(), key=lambda kv: kv[1])
        raise ValidationError(f"retrain: field {field} mixes kinds: row {r0} (0-based) is "
                              f"{k0} and row {r1} {k1}; give all labels as strings or all as "
                              "integers")
    return out


def _hf_split(split: Any, name: str, path: str) -> dict[str, Any]:
    """Texts and labels of one split of a HF dataset: a ``ClassLabel`` column as its
    class names, a plain column (strings, numbers) as it is; a missing label is refused."""
    feature = split.features["label"]
    names = getattr(feature, "names", None)  # a ClassLabel; a Value has none
    raw = list(split["label"])
    labels: list[Any] = []
    for row, v in enumerate(raw):
        if v is None or (names is not None and not 0 <= v < len(names)):
            raise ValidationError(f"retrain: {path}: split {name!r}, row {row} (0-based): "
                                  f"field 'label' is {v!r}, not a label; drop the unlabeled "
                                  "rows before exporting")
        labels.append(names[v] if names is not None else v)
    return {"texts": list(split["text"]), "labels": labels}


_CONFIG_DEFAULTS: dict[str, Any] = {"C": 1.0, "max_iter": 1000, "seed": 0}


def _config(given: Any) -> dict[str, Any]:
    """The retrain config, checked: known keys only, ``C`` > 0, ``max_iter`` >= 1, ``seed``
    an integer >= 0."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ValidationError(f"retrain: field 'config' is a {type(given).__name__} "
                              f"({given!r:.60}); give a dict such as {_CONFIG_DEFAULTS}, or "
                              "leave it out")
    unknown = sorted(str(k) for k in given if k not in _CONFIG_DEFAULTS)
    if unknown:
        raise ValidationError(f"retrain: field 'config' has unknown key(s) {unknown}; the "
                              f"known keys are {sorted(_CONFIG_DEFAULTS)} (names are "
                              "case-sensitive)")
    cfg = {**_CONFIG_DEFAULTS, **given}
    c, it, seed = cfg["C"], cfg["max_iter"], cfg["seed"]
    if isinstance(c, bool) or not isinstance(c, int | float) or not (math.isfinite(c) and c > 0):
        raise ValidationError(f"retrain: field 'config.C' is {c!r:.60}; give a number > 0 "
                              "(the inverse regularisation strength, default 1.0)")
    if isinstance(it, bool) or not isinstance(it, int) or it < 1:
        raise ValidationError(f"retrain: field 'config.max_iter' is {it!r:.60}; give an "
                              "integer >= 1 (default 1000)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(f"retrain: field 'config.seed' is {seed!r:.60}; give an "
                              "integer >= 0 (default 0)")
    return cfg


def retrain(payload: Mapping[str, Any], log: Log = _noop,
            cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """The ``retrain`` job: fit a classifier on the training split and score it on the
    validation split. Texts get TF-IDF features; ``features`` are used as they are.
    ``config``: ``{"C": 1.0, "max_iter": 1000, "seed": 0}`` for the logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline

    _check_payload(payload, "retrain", "{'train': {...}, 'val': {...}, 'config': {...}} or "
                   "{'dataset_path': ..., 'config': {...}}")
    cfg = _config(payload.get("config"))
    train, val = _split(payload)
    if ("texts" in train) != ("texts" in val):
        kinds = {n: "texts" if "texts" in s else "features" for n, s in (("train", train),
                                                                         ("val", val))}
        raise ValidationError(f"retrain: the train split has {kinds['train']} and the val split "
                              f"{kinds['val']}; give both splits the same input, 'texts' or "
                              "'features'")
    clf = LogisticRegression(C=float(cfg["C"]), max_iter=int(cfg["max_iter"]),
                             random_state=int(cfg["seed"]))
    x_train: Any
    x_val: Any
    if "texts" in train:
        # one-character words count (sklearn's default drops them: a CJK text of single
        # characters, or labels like "a"/"b", had no features at all)
        model: Any = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1,
                                                   token_pattern=r"(?u)\b\w+\b"), clf)
        x_train, x_val = list(train["texts"]), list(val["texts"])
    else:
        model = clf
        x_train, x_val = train["features"], val["features"]
        if len(x_train) and len(x_val) and x_train.shape[1] != x_val.shape[1]:
            raise ValidationError(f"retrain: field 'val.features' has {x_val.shape[1]} numbers "
                                  f"per row and 'train.features' {x_train.shape[1]}; give both "
                                  "splits the same features")
    y_train, y_val = list(train["labels"]), list(val["labels"])
    if len({isinstance(y, str) for y in y_train + y_val}) > 1:
        raise ValidationError("retrain: field 'train.labels' and field 'val.labels' hold "
                              "different kinds of labels (strings in one, integers in the "
                              "other); give both splits labels of the same kind")
    for name, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        if len(x) != len(y) or not len(y):
            raise ValidationError(f"retrain: the {name} split has {len(x)} examples and "
                                  f"{len(y)} labels; give one label per example, and at least "
                                  "one example")
    if len(set(y_train)) < 2:
        raise ValidationError(f"retrain: the training split has {len(set(y_train))} class(es); "
                              f"a classifier needs at least 2")
    unseen = sorted(set(y_val) - set(y_train), key=str)
    if unseen and not set(y_val) & set(y_train):
        msg = (f"retrain: no label of the val split is a label of the train split (val has "
               f"{unseen[:5]}, train {sorted(set(y_train), key=str)[:5]}); the accuracy will "
               "be 0. Fix: validate on examples of the classes the model is trained on (same "
               "label names in both splits)")
        log(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    log(f"training on {len(y_train)} examples, validating on {len(y_val)}")
    if cancelled():
        raise InterruptedError("retrain: cancelled before training")
    try:
        model.fit(x_train, y_train)
    except ValueError as e:
        if "empty vocabulary" not in str(e):
            raise
        raise ValidationError("retrain: field 'train.texts' has no words to learn from "
                              "(only punctuation or spaces); give texts with words, or "
                              "'features'") from None
    if cancelled():  # the fit cannot be stopped half-way; its result is not kept
        raise InterruptedError("retrain: cancelled during training")
    pred = model.predict(x_val)
    metrics = {"accuracy": float(accuracy_score(y_val, pred)),
               "f1_macro": float(f1_score(y_val, pred, average="macro")),
               "n_train": len(y_train), "n_val": len(y_val)}
    log(f"validation accuracy {metrics['accuracy']:.4f}")
    return {"metrics": metrics, "weights": pickle.dumps(model), "config": cfg}


JOBS: dict[str, Callable[..., dict[str, Any]]] = {"sam_embed": sam_embed, "retrain": retrain}
