"""Checkpoints as one safetensors file: model and optimizer tensors, with the rest of the state as JSON metadata.

One file per checkpoint, written atomically, so a run killed at any moment leaves the previous checkpoint or the
new one, never a torn file. No pickles: tensors go through safetensors, everything else through JSON. Reading one
checks it whole before anything is loaded: a file safetensors cannot parse, metadata that is not JSON, or tensors
whose names, shapes or dtypes differ from the model's raise RunDirCorruptError naming the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from graphrec.errors import RunDirCorruptError, RunDirError, collapsed
from graphrec.io import atomic_write

logger = logging.getLogger(__name__)

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
    keep_previous: str | Path | None = None,
) -> None:
    """Write model (+ optimizer, torch RNG) tensors and JSON `metadata` atomically to `path`; `keep_previous`: the
    checkpoint `path` held so far is kept under this name (graphrec.io.atomic_write)."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    meta: dict[str, Any] = dict(metadata or {})
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = _optimizer_tensors(optimizer)
        tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    header = {_META_KEY: json.dumps(meta)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header), keep_previous=keep_previous)


def damaged(path: Path, what: str) -> RunDirCorruptError:
    """The one message of an unreadable or inconsistent checkpoint: the file, what is wrong, the fix."""
    return RunDirCorruptError(
        f"{path}: {what}; the file is damaged or from another run: restore it from a copy or train the run again"
    )


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a checkpoint file; RunDirCorruptError when it is not a readable checkpoint."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"checkpoint '{path}' does not exist; train a run first (graphrec train ...)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:  # truncated, empty, random bytes
        what = f"expected a safetensors file, got one safetensors cannot read ({collapsed(exc)})"
        raise damaged(path, what) from None
    try:
        meta = json.loads(header.get(_META_KEY, "{}"))
    except json.JSONDecodeError as exc:
        what = f"expected JSON metadata under '{_META_KEY}', got invalid JSON ({collapsed(exc)})"
        raise damaged(path, what) from None
    if not isinstance(meta, dict):
        raise damaged(path, f"expected a JSON object of metadata, got {type(meta).__name__}")
    return tensors, meta


def _kind(tensor: torch.Tensor) -> str:
    """e.g. "float32 [500, 64]"."""
    return str(tensor.dtype).removeprefix("torch.") + " [" + ", ".join(str(n) for n in tensor.shape) + "]"


def check_model_tensors(
    path: Path, tensors: dict[str, torch.Tensor], model: nn.Module, built_from: str
) -> dict[str, torch.Tensor]:
    """The `model.*` tensors of a checkpoint as `model`'s state dict; RunDirCorruptError unless they are exactly its
    state: the same names, shapes and dtypes, and finite. `built_from` says where the model's shapes come from (for
    the message)."""
    expected = model.state_dict()
    saved = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, extra = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
    if missing or extra:
        what = f"lacks tensor '{missing[0]}'" if missing else f"has tensor '{extra[0]}'"
        raise damaged(path, f"expected the tensors of the model built from {built_from}, got one that {what}")
    for name, want in expected.items():
        got = saved[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise damaged(
                path,
                f"tensor '{name}' is {_kind(got)}, the model built from {built_from} has {_kind(want)}",
            )
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise damaged(path, f"tensor '{name}' holds nan or inf")
    return saved


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = False,
    built_from: str = "the run's config",
) -> dict[str, Any]:
    """Load a checkpoint into `model` (and `optimizer`); return its metadata. The file is checked whole first
    (:func:`read_checkpoint`, :func:`check_model_tensors`): a damaged one raises RunDirCorruptError and changes
    nothing in `model`."""
    path = Path(path)
    tensors, meta = read_checkpoint(path)
    state = check_model_tensors(path, tensors, model, built_from)
    if restore_rng and not (tensors.get("rng.torch") is not None and tensors["rng.torch"].dtype == torch.uint8):
        raise damaged(path, "expected the torch RNG state 'rng.torch' (uint8), got none")
    model.load_state_dict(state)
    if optimizer is not None and "optimizer" in meta:
        try:
            _restore_optimizer(optimizer, tensors, meta["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            what = f"expected the optimizer state of this model, got one that does not fit ({collapsed(exc)})"
            raise damaged(path, what) from None
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
    return meta


def resume_from(latest: Path, previous: Path, load: Callable[[Path], None]) -> Path | None:
    """`load` the latest checkpoint or, when it is damaged or gone (a crash between the two renames of a save),
    the previous one, with a warning; return the path loaded (None: neither file exists, start fresh).
    RunDirCorruptError naming both files and the fix when neither loads."""
    if not latest.is_file() and not previous.is_file():
        return None
    problems: list[str] = []
    for path in (latest, previous):
        if not path.is_file():
            problems.append(f"{path} does not exist")
            continue
        try:
            load(path)
        except RunDirCorruptError as exc:
            problems.append(str(exc).partition("; the file is damaged")[0])
            continue
        if path == previous:
            logger.warning("resuming from the previous checkpoint %s instead of the latest: %s", path, problems[0])
        return path
    raise RunDirCorruptError(
        f"cannot resume: {'; '.join(problems)}; delete {latest} and {previous.name} to train the run from the "
        "start, or pass a new --out"
    )
