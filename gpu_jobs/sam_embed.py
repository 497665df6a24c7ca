"""Modal app ``labelnb-sam``: SAM image embeddings on a GPU.

(No ``from __future__ import annotations`` here: Modal reads the class parameters'
annotations as real types.)

``SamEmbedder`` loads the model once per container (``@modal.enter``) and embeds
batches of encoded images, answering ``{"model_id", "embeddings"}`` like the job (the
model id says which weights it loaded: with ``sha256`` given, the container's copy is
checked against it and named by it, so
:class:`~labelnb.segment.sam.ModalSam` can refuse embeddings of other weights);
``sam_embed`` is the plain function
:func:`labelnb.jobs.submit` spawns. Both call :mod:`labelnb.jobs.bodies`, the code the
local backend runs. Weights live on the ``labelnb-weights`` Volume (mounted at
``/weights``); the GPU type comes from ``LABELNB_GPU`` (default ``H100``) at deploy time.

    modal deploy gpu_jobs/sam_embed.py
"""


import os
from typing import Any

import modal

from labelnb.jobs import bodies

GPU = os.environ.get("LABELNB_GPU", "H100")

app = modal.App("labelnb-sam")
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch==2.14.1", "torchvision==0.29.1", "segment-anything>=1.0", "numpy",
                 "pillow", "scikit-learn", "pandas", "sqlalchemy>=2", "alembic", "anywidget",
                 "pycocotools", "fsspec", "tqdm", "orjson", "pyyaml")
    .add_local_python_source("labelnb")
)
weights = modal.Volume.from_name("labelnb-weights", create_if_missing=True)


def _config(model_type: str, checkpoint: str, sha256: str = "") -> dict[str, Any]:
    """The model config of ``SamEmbedder``'s parameters (``""``: not given)."""
    if model_type == "tiny":
        return {"tiny": True, "seed": 0}
    config: dict[str, Any] = {"model_type": model_type,
                              "checkpoint": checkpoint or f"/weights/sam_{model_type}.pth"}
    if sha256:
        config["sha256"] = sha256
    return config


@app.cls(image=image, gpu=GPU, volumes={"/weights": weights}, timeout=3600)
class SamEmbedder:
    """SAM loaded once per container; ``embed`` answers batches of encoded images with
    ``{"model_id": ..., "embeddings": [...]}`` (see :mod:`labelnb.jobs.bodies`)."""

    model_type: str = modal.parameter(default="vit_h")
    checkpoint: str = modal.parameter(default="")
    sha256: str = modal.parameter(default="")

    @modal.enter()
    def load(self) -> None:
        self.sam = bodies.load_sam(_config(self.model_type, self.checkpoint, self.sha256))

    @modal.method()
    def embed(self, images: list[bytes]) -> dict[str, Any]:
        return bodies.embed_images(self.sam, images)


@app.function(image=image, gpu=GPU, volumes={"/weights": weights}, timeout=3600)
def sam_embed(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``sam_embed`` job (see :mod:`labelnb.jobs.bodies`)."""
    return bodies.sam_embed(payload, log=print)
