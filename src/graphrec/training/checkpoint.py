"""Checkpoints as one safetensors file: model and optimizer tensors, with the rest of the state as JSON metadata.

One file per checkpoint, written atomically, so a run killed at any moment leaves the previous checkpoint or the
new one, never a torn file. No pickles: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from graphrec.errors import RunDirError
from graphrec.io import atomic_write

_META_KEY = "graphrec"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for param_id, param_state in state["state"].items():
        for key, value in param_state.items():
            name = f"optim.{param_id}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().reshape(value.shape).contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        if not name.startswith("optim."):
            continue
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = value
    groups = meta["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write model (+ optimizer, torch RNG) tensors and JSON `metadata` atomically to `path`."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    meta: dict[str, Any] = dict(metadata or {})
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = _optimizer_tensors(optimizer)
        tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    header = {_META_KEY: json.dumps(meta)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a checkpoint file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"checkpoint '{path}' does not exist; train a run first (graphrec train ...)")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    return load_file(str(path)), json.loads(header.get(_META_KEY, "{}"))


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = False,
) -> dict[str, Any]:
    """Load a checkpoint into `model` (and `optimizer`); return its metadata."""
    tensors, meta = read_checkpoint(path)
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_state)
    if optimizer is not None and "optimizer" in meta:
        _restore_optimizer(optimizer, tensors, meta["optimizer"])
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
    return meta
