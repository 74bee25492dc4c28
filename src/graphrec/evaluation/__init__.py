"""Full-ranking top-K evaluation (Recall, NDCG, Precision, HitRate, MRR) and top-K retrieval."""

from graphrec.config.sections import EvalConfig
from graphrec.evaluation.metrics import METRIC_NAMES, evaluate_embeddings, evaluate_model, top_k_items

__all__ = ["METRIC_NAMES", "EvalConfig", "evaluate_embeddings", "evaluate_model", "top_k_items"]
