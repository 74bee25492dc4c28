"""The `graphrec` command's arguments: one sub-parser per command (cli.py maps each to one library call)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from graphrec.config.models import MODEL_CONFIGS
from graphrec.errors import one_line

EXIT_USAGE = 2  # argparse's own code for a usage error, and the CLI's for every bad input

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


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("report", help="one self-contained HTML report of runs: CIs, curves, buckets, example users")
    p.add_argument("run_dirs", nargs="+", metavar="RUN", help="run directories trained on the same data")
    p.add_argument("--out", required=True, help="the HTML file to write, e.g. report.html")
    p.add_argument("--split", choices=["valid", "test"], default="test", help="the split to score (default test)")
    p.add_argument("--k", type=int, nargs="+", default=[10, 20, 50], help="table cut-offs (default 10 20 50)")
    p.add_argument("--data", help="data directory (default: the one the runs were trained on)")
    p.add_argument("--catalogue", help="items file with titles (default: the run's features.catalogue)")
    p.add_argument("--users", type=int, default=5, help="example users shown (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the example users (default 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")

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
    p.add_argument(
        "--item-features", action="store_true", help="also items.parquet: title, genres, embedding with planted signal"
    )
    p.add_argument("--feature-noise", type=float, default=0.3, help="share of tokens / genres off-community (0.3)")
    p.add_argument("--feature-signal", type=float, default=1.0, help="embedding signal-to-noise ratio of norms (1.0)")
    p.add_argument("--feature-dim", type=int, default=32, help="embedding length (32)")

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
