"""Interaction data: readers, cleaning, seeded splits, synthetic data and the Dataset every model consumes."""

from graphrec.config.sections import DataConfig
from graphrec.data.dataset import Dataset
from graphrec.data.idmap import IdMap
from graphrec.data.loading import load_dataset
from graphrec.data.readers import read_interactions
from graphrec.data.synthetic import generate_demo_dir, generate_interactions

__all__ = [
    "DataConfig",
    "Dataset",
    "IdMap",
    "generate_demo_dir",
    "generate_interactions",
    "load_dataset",
    "read_interactions",
]
