"""Two-stage recommendation: candidate retrieval from a vector index, then a pluggable ranker."""

from graphrec.ranking.candidates import Candidates, evaluate_ranked, retrieve, top_k_of
from graphrec.ranking.pipeline import two_stage
from graphrec.ranking.rankers import (
    FEATURES,
    ExactScoreRanker,
    LearnedRanker,
    Ranker,
    RankingContext,
    candidate_features,
    fit_learned_ranker,
)

__all__ = [
    "FEATURES",
    "Candidates",
    "ExactScoreRanker",
    "LearnedRanker",
    "Ranker",
    "RankingContext",
    "candidate_features",
    "evaluate_ranked",
    "fit_learned_ranker",
    "retrieve",
    "top_k_of",
    "two_stage",
]
