"""graphrec: graph neural network recommenders, from interaction logs to evaluated top-K recommendations."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`graphrec.fit`, `graphrec.load`, `graphrec.Recommender`, imported on first use: `import graphrec` stays light
    (the CLI checks a config before the heavy modules load)."""
    if name in ("fit", "load", "Recommender"):
        from graphrec import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'graphrec' has no attribute '{name}'")
