"""Checkpoints: tensors plus JSON metadata (env, model kind, shapes, config, format version),
saved atomically and loaded with `torch.load(weights_only=True)` so a crafted file can never
run code. Anything unexpected is refused with a one-line CheckpointError."""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from worldsim.io import atomic_open

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, damaged, unsafe or made for something else."""


def save_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str,
    env: str,
    model: dict[str, torch.Tensor],
    meta: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint: `model` is a state_dict, `meta` JSON-able facts (shapes, config),
    `state` anything else weights_only can load (optimizer state, step counters)."""
    payload = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "env": env,
        "meta_json": json.dumps(meta, sort_keys=True),
        "model": {k: v.detach().cpu() for k, v in model.items()},
        "state": state or {},
    }
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(
    path: str | os.PathLike, *, kind: str, env: str | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load and check a checkpoint; returns {'model', 'meta', 'state', 'kind', 'env'}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused, not a plain-tensor checkpoint ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged or truncated checkpoint ({first})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not a worldsim checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload['format_version']}, this worldsim reads {FORMAT_VERSION}"
        )
    if payload.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a '{payload.get('kind')}' model, expected '{kind}'")
    if env is not None and payload.get("env") != env:
        raise CheckpointError(f"{path}: made for env '{payload.get('env')}', not '{env}'")
    try:
        meta = json.loads(payload["meta_json"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: checkpoint metadata is unreadable") from None
    return {
        "kind": payload["kind"],
        "env": payload["env"],
        "meta": meta,
        "model": payload["model"],
        "state": payload.get("state", {}),
    }
