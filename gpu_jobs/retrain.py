"""Modal app ``labelnb-retrain``: retrain a model on an exported dataset.

The dataset (e.g. ``labelnb.export(project, "hf", ...)``) is uploaded to the
``labelnb-data`` Volume, mounted at ``/data``; the payload names it as
``{"dataset_path": "/data/<name>", "config": {...}}`` or carries the data inline. The
body is :func:`labelnb.jobs.bodies.retrain`, the code the local backend runs.

    modal deploy gpu_jobs/retrain.py
"""

from __future__ import annotations

import os
from typing import Any

import modal

from labelnb.jobs import bodies

app = modal.App("labelnb-retrain")
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("numpy", "pandas", "scikit-learn", "datasets", "pillow", "sqlalchemy>=2",
                 "alembic", "anywidget", "pycocotools", "fsspec", "tqdm", "orjson", "pyyaml")
    .add_local_python_source("labelnb")
)
data = modal.Volume.from_name("labelnb-data", create_if_missing=True)


@app.function(image=image, gpu=os.environ.get("LABELNB_RETRAIN_GPU") or None,
              volumes={"/data": data}, timeout=6 * 3600)
def retrain(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``retrain`` job: metrics and pickled weights come back."""
    return bodies.retrain(payload, log=print)
