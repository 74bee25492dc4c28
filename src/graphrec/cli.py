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
from typing import Any, NoReturn

from graphrec.config.models import MODEL_CONFIGS
from graphrec.errors import ConfigError, GraphrecError, one_line

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DATA_HELP = (
    "an interactions file (.csv, .tsv, .parquet, RecBole .inter; columns and separator detected) or a directory "
    "with train.txt and test.txt (+ valid.txt) in the LightGCN format"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code is 2 as well; keep one line
        self.exit(EXIT_USAGE, f"graphrec: error: {one_line(message)}\n")


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true", help="progress bars even when stderr is not a terminal")
    shown.add_argument("--no-progress", action="store_true", help="no progress bars (default: only on a terminal)")


def _progress(args: argparse.Namespace) -> bool | None:
    """--progress: True, --no-progress: False, neither: None (bars only when stderr is a terminal)."""
    return True if getattr(args, "progress", False) else False if args.no_progress else None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphrec", description="Graph neural network recommenders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a model into a run directory")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--model", help=f"model name ({', '.join(MODEL_CONFIGS)})")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--out", help="run directory (default runs/<model>-<time>)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.lr=0.005")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint, with its saved config"
    )
    again.add_argument("--overwrite", action="store_true", help="delete the run in --out and train it from scratch")
    _progress_flags(p)

    p = sub.add_parser("tune", help="search hyperparameters on the validation split (Optuna TPE), save the best")
    p.add_argument("--config", help="TOML config file (the base every trial starts from)")
    p.add_argument("--model", help=f"model name ({', '.join(MODEL_CONFIGS)})")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--space", help="TOML file with a [tune] table (default: the model's built-in space)")
    p.add_argument("--out", required=True, help="directory for trials.csv/.json/.md, best.toml and tune.json")
    p.add_argument("--trials", type=int, help="number of trials (default 20 unless --time-budget-s is given)")
    p.add_argument("--time-budget-s", type=float, help="start no trial after this many seconds")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, help="the run seed (also the sampler's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=20")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (trials never show one)")

    p = sub.add_parser("evaluate", help="full-ranking metrics of a run on its valid or test split")
    p.add_argument("run_dir")
    p.add_argument("--data", help="interactions file or data directory (default: the one the run was trained on)")
    p.add_argument("--split", choices=["valid", "test"], default="test", help="the split to score (default test)")
    p.add_argument("--k", type=int, nargs="+", default=[20], help="cut-offs (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--beyond",
        action="store_true",
        help="also coverage, Gini, novelty, popularity bias and accuracy by user-activity and item-popularity bucket",
    )

    p = sub.add_parser("compare", help="runs side by side: means with 95% bootstrap CIs, paired tests, effect sizes")
    p.add_argument("run_dirs", nargs="+", metavar="RUN", help="run directories trained on the same data")
    p.add_argument("--split", choices=["valid", "test"], required=True)
    p.add_argument("--baseline", help="the run every other is tested against (default: the first RUN)")
    p.add_argument("--k", type=int, nargs="+", default=[10, 20, 50], help="cut-offs (default 10 20 50)")
    p.add_argument("--data", help="data directory (default: the one the runs were trained on)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples (default 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--no-beyond", action="store_true", help="leave out the beyond-accuracy metrics")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of Markdown tables")

    p = sub.add_parser("export", help="write final embeddings and id lists")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="directory for user/item_embeddings.npy and user/item_ids.json")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier export in --out")

    p = sub.add_parser("embed", help="every user and item embedding, sharded across torchrun ranks, then merged")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="directory for the shards and the merged embeddings and ids")

    p = sub.add_parser("recommend", help="top-k unseen items for a user, or for every user into a Parquet file")
    p.add_argument("run_dir")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="external user id")
    who.add_argument("--all", action="store_true", help="every user of the run (needs --out)")
    p.add_argument("--k", type=int, default=10, help="items per user (at most the number of items)")
    p.add_argument("--out", help="with --all: the Parquet file (user_id, rank, item_id, score)")
    p.add_argument("--chunk-size", type=int, default=2048, help="with --all: users scored at once")
    _progress_flags(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("index", help="build and save a nearest-neighbour index of a run's item embeddings")
    p.add_argument("run_dir")
    p.add_argument("--kind", choices=["hnsw", "ivf", "exact"], default="hnsw")
    p.add_argument("--out", help="index directory (default RUN_DIR/index)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="index option, e.g. ef_search=128 (hnsw: m, ef_construction, ef_search; ivf: nlist, nprobe)",
    )

    p = sub.add_parser("similar", help="the k items most similar to an item (related items)")
    p.add_argument("run_dir")
    p.add_argument("--item", required=True, help="external item id")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("embed-items", help="embed items unseen in training from their features and users")
    p.add_argument("run_dir")
    p.add_argument(
        "--input",
        required=True,
        help='JSON list of {"item_id": ..., "users": [user ids], "features": [numbers] (optional)}',
    )
    p.add_argument("--out", required=True, help="directory for item_embeddings.npy and item_ids.json")

    p = sub.add_parser("serve", help="HTTP service: recommendations, similar items, new items and interactions")
    p.add_argument("run_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--db", help="SQLite event log of accepted writes (default RUN_DIR/serving_events.sqlite3)")
    p.add_argument("--index", choices=["hnsw", "ivf", "exact"], default="hnsw", help="candidate index (default hnsw)")
    p.add_argument("--candidates", type=int, default=200, help="index candidates re-ranked per request")
    p.add_argument("--token-file", help="file holding the write token (when GRAPHREC_API_TOKEN is not set)")
    p.add_argument("--read-only", action="store_true", help="refuse writes (no token needed)")
    p.add_argument(
        "--dev-no-auth", action="store_true", help="allow writes without a token (development; loopback hosts only)"
    )
    p.add_argument("--max-header-bytes", type=int, default=16_384, help="request line + headers (default 16384)")
    p.add_argument("--max-connections", type=int, default=1024, help="open connections (default 1024)")
    p.add_argument("--write-rate", type=float, default=1000.0, help="writes/s per token, 0: no limit (default 1000)")
    p.add_argument("--write-burst", type=int, default=2000, help="writes allowed at once above it (default 2000)")

    p = sub.add_parser("synth", help="write a large synthetic graph (power-law degrees, planted communities)")
    p.add_argument("--edges", type=int, required=True, help="interactions in all, train + test (e.g. 10000000)")
    p.add_argument("--out", required=True, help="directory for train.txt and test.txt (or .parquet)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--users", type=int, help="default: edges // 34 (Gowalla's interactions per user)")
    p.add_argument("--items", type=int, help="default: edges // 25 (Gowalla's interactions per item)")
    p.add_argument("--communities", type=int, help="planted communities (default: items // 2000, 2 to 100)")
    p.add_argument("--test-ratio", type=float, default=0.2, help="share of each user's items held out for test")
    p.add_argument("--format", choices=["lightgcn", "parquet"], default="lightgcn")
    p.add_argument("--chunk-users", type=int, default=16384, help="users generated at once (bounds the memory)")

    p = sub.add_parser("demo", help="train and evaluate on built-in synthetic data")
    p.add_argument("--out", default="demo_run")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    _progress_flags(p)

    p = sub.add_parser("config", help="config utilities")
    config_sub = p.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    show = config_sub.add_parser(
        "show", help="print a config file with every default filled in (unset keys as comments)"
    )
    show.add_argument("file")

    p = sub.add_parser("datasets", help="well-known public datasets: list them, or download one into a folder")
    datasets_sub = p.add_subparsers(dest="datasets_command", required=True, parser_class=_Parser)
    listed = datasets_sub.add_parser("list", help="the datasets `get` knows, with their source and checksums")
    listed.add_argument("--json", action="store_true")
    get = datasets_sub.add_parser("get", help="download (once, into the cache) and write graphrec's input files")
    get.add_argument("name")
    get.add_argument(
        "--out", required=True, help="folder for the dataset's files (then pass it, or its file, as --data)"
    )
    get.add_argument("--cache", help="download cache (default: $GRAPHREC_CACHE, else ~/.cache/graphrec)")
    return parser


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
    from graphrec.data.synthetic_large import generate_large

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
    args = _build_parser().parse_args(argv)
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
