"""The core's ``register_detectors``: the installed, enabled learned models."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from webapp.plugin_api import hookimpl


@hookimpl
def register_detectors(settings: Mapping[str, Any]) -> list:
    from webapp.detection.models import load_detectors, models_dir
    directory = Path(settings.get("models_dir") or models_dir())
    # Models load lazily on first use, so start-up only reads manifests. One
    # intra-op thread each by default: the pipeline's parallelism is its
    # workers (NRSC_DETECTION_WORKERS), and onnxruntime's own pool, spinning on
    # every core, only fights them and the cues for the CPU.
    threads = settings.get("model_threads", 1)
    return [d for d in load_detectors(directory, threads=int(threads) if threads else None)
            if (settings.get(d.name) or {}).get("enabled", True)] if directory.is_dir() else []
