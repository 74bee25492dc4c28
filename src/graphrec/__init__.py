"""graphrec: graph neural network recommenders, from interaction logs to evaluated top-K recommendations."""

__version__ = "0.1.0"
