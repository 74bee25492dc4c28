"""Random streams: one enum of ids, unique values, and every generator in src/ names a member."""

from __future__ import annotations

import ast
from pathlib import Path

from graphrec.seeding import Stream

SRC = Path(__file__).resolve().parent.parent / "src" / "graphrec"


def test_stream_ids_are_unique() -> None:
    values = [member.value for member in Stream]
    assert len(values) == len(set(values)) == len(Stream.__members__)


def _stream_argument(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 2:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "stream"), None)


def test_every_generator_in_src_names_a_stream() -> None:
    """numpy_rng / torch_generator take a Stream member (or a module constant / parameter holding one), never a
    bare number, and no stream or seed arithmetic (`seed + 1`) derives one generator from another."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "seeding.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("numpy_rng", "torch_generator"):
                stream = _stream_argument(node)
                named = (isinstance(stream, ast.Attribute) and getattr(stream.value, "id", None) == "Stream") or (
                    isinstance(stream, ast.Name) and (stream.id.endswith("_STREAM") or stream.id == "stream")
                )
                seed = node.args[0] if node.args else None
                if not named or isinstance(seed, ast.BinOp):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.keyword) and node.arg == "seed" and isinstance(node.value, ast.BinOp):
                offenders.append(f"{path.relative_to(SRC)}:{node.value.lineno} (seed arithmetic)")
    assert not offenders, offenders


def test_module_stream_constants_are_members() -> None:
    from graphrec.data import loading, synthetic_large
    from graphrec.models import itemgraph
    from graphrec.samplers import uniform
    from graphrec.training import contrastive, item_pairs, sampled, skipgram

    constants = [
        loading._TEST_STREAM,
        loading._VALID_STREAM,
        loading._HOLDOUT_STREAM,
        synthetic_large._GLOBAL_STREAM,
        synthetic_large._BLOCK_STREAM,
        itemgraph.INFERENCE_STREAM,
        itemgraph.USER_STREAM,
        uniform.SAMPLER_STREAM,
        uniform.BATCHER_STREAM,
        item_pairs.BATCH_STREAM,
        item_pairs.HARD_POOL_STREAM,
        item_pairs.DISTANCE_STREAM,
        sampled.SAMPLED_STREAM,
        contrastive.NOISE_STREAM,
        skipgram.WALK_STREAM,
        skipgram.NEGATIVE_STREAM,
    ]
    assert all(isinstance(c, Stream) for c in constants)
    assert len(set(constants)) == len(constants)
