"""The `graphrec` command: parse arguments, call one library function, map errors to exit codes.

Exit codes: 0 ok; 2 usage, config, data or run-directory error, and training that diverged (a non-finite loss or
weights: TrainingError, one line naming the epoch and step and the setting to lower), each one line on stderr; 1 any
other failure.

Config errors come first: `train` builds and checks the whole config (torch-free) before importing the training
modules or touching the data.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphrec.cli_parser import EXIT_USAGE, build_parser
from graphrec.errors import ConfigError, GraphrecError, one_line

EXIT_OK, EXIT_FAILURE = 0, 1


def _progress(args: argparse.Namespace) -> bool | None:
    """--progress: True, --no-progress: False, neither: None (bars only when stderr is a terminal)."""
    return True if getattr(args, "progress", False) else False if args.no_progress else None


def _resolve_train_config(args: argparse.Namespace) -> Any:
    from graphrec.config import RunConfig, apply_overrides, data_overrides, load_config, load_run_config
    from graphrec.config.train import TrainConfig

    resume = getattr(args, "resume", False)
    if resume and not args.out:
        raise ConfigError("train --resume: expected the run directory to continue, got no --out; pass --out RUN_DIR")
    saved = load_run_config(args.out) if resume and not args.config else None
    config = load_config(args.config) if args.config else saved or RunConfig()
    overrides = []
    if args.model:
        overrides.append(f"model.name={args.model}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.data:
        overrides += data_overrides(args.data)
    config = apply_overrides(config, overrides + list(args.set))
    shown = _progress(args)
    if shown is not None and isinstance(config.train, TrainConfig):  # closed-form models show no progress anyway
        config = apply_overrides(config, [f"train.show_progress={'true' if shown else 'false'}"])
    return config


def _cmd_train(args: argparse.Namespace) -> int:
    config = _resolve_train_config(args)  # checked before the heavy imports and before the data is touched
    from graphrec.runs import train
    from graphrec.training.distributed import is_main_process

    summary = train(config, args.out, resume=args.resume, overwrite=args.overwrite)
    if is_main_process():  # under torchrun every rank returns the summary; print it once
        print(json.dumps(summary, indent=2))
    return EXIT_OK


def _cmd_tune(args: argparse.Namespace) -> int:
    config = _resolve_train_config(args)
    from graphrec.tuning import tune

    print(json.dumps(tune(config, args.out, args.space, args.trials, args.time_budget_s), indent=2))
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from graphrec.runs import evaluate_run

    metrics = evaluate_run(args.run_dir, args.split, args.k, data_path=args.data, beyond=args.beyond)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>14}  {value:.5f}" if isinstance(value, float) else f"{key:>14}  {value}")
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from graphrec.evaluation.compare import comparison_markdown
    from graphrec.runs import compare_runs

    result = compare_runs(
        args.run_dirs,
        args.split,
        args.k,
        args.baseline,
        args.data,
        seed=args.seed,
        resamples=args.resamples,
        beyond=not args.no_beyond,
    )
    print(json.dumps(result) if args.json else comparison_markdown(result), end="\n" if args.json else "")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from graphrec.report import gather, write_report

    if args.users < 0:
        raise ConfigError(f"--users must be ≥ 0, got {args.users}; e.g. --users 5")
    data = gather(args.run_dirs, args.split, args.k, args.data, args.catalogue, args.users, args.seed, args.resamples)
    path = write_report(data, args.out)
    print(f"wrote {path}")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from graphrec.runs import export_run

    for path in export_run(args.run_dir, args.out, overwrite=args.overwrite):
        print(path)
    return EXIT_OK


def _cmd_embed(args: argparse.Namespace) -> int:
    from graphrec.embed import embed_run
    from graphrec.training.distributed import is_main_process

    summary = embed_run(args.run_dir, args.out)
    if is_main_process():
        print(json.dumps(summary, indent=2))
    return EXIT_OK


def _cmd_recommend(args: argparse.Namespace) -> int:
    from graphrec.runs import recommend

    if args.all:
        return _cmd_recommend_all(args)
    _print_items(recommend(args.run_dir, args.user, args.k), {"user_id": args.user}, args.json)
    return EXIT_OK


def _cmd_recommend_all(args: argparse.Namespace) -> int:
    from graphrec.batch import recommend_all
    from graphrec.runs import load_run

    if not args.out:
        raise ConfigError("recommend --all needs --out FILE.parquet for the recommendations of every user")
    run = load_run(args.run_dir)
    print(
        json.dumps(
            recommend_all(
                run.scorer(),
                run.user_ids.ids,
                run.item_ids.ids,
                run.train,
                args.k,
                args.out,
                chunk_size=args.chunk_size,
                show_progress=_progress(args),
            )
        )
    )
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    from graphrec.index import build_run_index, parse_index_options
    from graphrec.index.run_index import DEFAULT_DIRNAME
    from graphrec.runs import load_run

    options = parse_index_options(args.set)
    run = load_run(args.run_dir)
    vectors = run.embeddings()[1].detach().cpu().numpy()
    out = args.out if args.out is not None else Path(args.run_dir) / DEFAULT_DIRNAME
    print(json.dumps(build_run_index(vectors, run.item_ids, out, args.kind, **options)))
    return EXIT_OK


def _print_items(items: list[dict[str, Any]], about: dict[str, Any], as_json: bool) -> None:
    """A ranked list of {"item_id", "score"}: one JSON object, or one numbered line per item."""
    if as_json:
        print(json.dumps({**about, "items": items}))
        return
    for rank, entry in enumerate(items, 1):
        print(f"{rank:>3}. {entry['item_id']}  (score {entry['score']:.4f})")


def _cmd_similar(args: argparse.Namespace) -> int:
    from graphrec.inductive import similar_items
    from graphrec.runs import load_run

    _print_items(similar_items(load_run(args.run_dir), args.item, args.k), {"item_id": args.item}, args.json)
    return EXIT_OK


def _cmd_embed_items(args: argparse.Namespace) -> int:
    from graphrec.inductive import embed_new_items_file

    report = embed_new_items_file(args.run_dir, args.input, args.out)
    print(json.dumps(report))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from graphrec.demo import run_demo

    report = run_demo(args.out, epochs=args.epochs, seed=args.seed, show_progress=_progress(args))
    print(f"demo data: {report['data_dir']}\n")
    print(f"{'model':<12} {'recall@20':>10} {'ndcg@20':>10} {'hit_rate@20':>12}")
    for model, metrics in report["results"].items():
        print(f"{model:<12} {metrics['recall@20']:>10.4f} {metrics['ndcg@20']:>10.4f} {metrics['hit_rate@20']:>12.4f}")
    print(f"\nLightGCN top-10 for user {report['example_user']} ({report['seen']} items seen, excluded):")
    print("  " + ", ".join(str(entry["item_id"]) for entry in report["recommendations"]))
    print(f"\ntraining curves: {Path(report['runs']['lightgcn']) / 'training_curve.png'}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from graphrec.service.config import ServeConfig
    from graphrec.service.server import serve

    serve(
        args.run_dir,
        ServeConfig(
            host=args.host,
            port=args.port,
            db=args.db,
            index=args.index,
            candidates=args.candidates,
            token_file=args.token_file,
            writes_enabled=not args.read_only,
            dev_no_auth=args.dev_no_auth,
            max_header_bytes=args.max_header_bytes,
            max_connections=args.max_connections,
            write_rate=args.write_rate,
            write_burst=args.write_burst,
        ),
    )
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace) -> int:
    from graphrec.data.synthetic_features import FeatureSpec
    from graphrec.data.synthetic_large import generate_large

    features = (
        FeatureSpec(noise=args.feature_noise, signal=args.feature_signal, dim=args.feature_dim)
        if args.item_features
        else None
    )
    summary = generate_large(
        args.out,
        args.edges,
        seed=args.seed,
        num_users=args.users,
        num_items=args.items,
        fmt=args.format,
        num_communities=args.communities,
        test_ratio=args.test_ratio,
        chunk_users=args.chunk_users,
        item_features=features,
    )
    print(json.dumps(summary, indent=2))
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    from graphrec.config import config_to_toml, load_config

    print(config_to_toml(load_config(args.file), show_unset=True), end="")
    return EXIT_OK


def _cmd_datasets(args: argparse.Namespace) -> int:
    from graphrec.data.public import fetch, listing

    if args.datasets_command == "list":
        rows = listing()
        print(json.dumps(rows, indent=2) if args.json else "\n".join(f"{r['name']:<24}{r['summary']}" for r in rows))
        return EXIT_OK
    fetched = fetch(args.name, args.out, args.cache)
    print(f"{fetched.name}: wrote {', '.join(fetched.files)} to {fetched.out}; train with --data {fetched.data}")
    return EXIT_OK


_COMMANDS = {
    "datasets": _cmd_datasets,
    "train": _cmd_train,
    "tune": _cmd_tune,
    "evaluate": _cmd_evaluate,
    "compare": _cmd_compare,
    "report": _cmd_report,
    "export": _cmd_export,
    "embed": _cmd_embed,
    "recommend": _cmd_recommend,
    "similar": _cmd_similar,
    "embed-items": _cmd_embed_items,
    "demo": _cmd_demo,
    "synth": _cmd_synth,
    "config": _cmd_config,
    "serve": _cmd_serve,
    "index": _cmd_index,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return _COMMANDS[args.command](args)
    except GraphrecError as exc:
        print(f"graphrec: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("graphrec: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # the CLI's last line of defence (logged with the traceback): one line, exit 1
        logging.getLogger("graphrec").debug("unhandled error", exc_info=True)
        print(
            f"graphrec: failed: {type(exc).__name__}: {one_line(str(exc))} (rerun with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
