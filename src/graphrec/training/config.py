"""Configuration of the training loop."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """Optimisation, sampling, validation and early-stopping settings."""

    epochs: int = 100
    batch_size: int = 8192
    lr: float = 0.005
    lr_final: float | None = None  # linear decay from lr to lr_final over the planned steps (None: constant)
    l2_reg: float = 1e-4  # L2 on the batch's ego (layer-0) embeddings, as in LightGCN
    weight_decay: float = 0.0  # Adam weight decay on non-embedding parameters (NGCF's W1/W2)
    loss: str = "bpr"  # bpr | bce
    num_negatives: int = 1
    negative_candidates: int = 1  # > 1: dynamic negative sampling, hardest of this many uniform draws per negative
    eval_every: int = 5  # epochs between validation passes
    metric: str = "ndcg@20"  # validation metric for early stopping and the best checkpoint
    patience: int = 5  # validation passes without improvement before stopping; 0 disables early stopping
    time_budget_s: float | None = None  # stop after this many seconds of training (checked per epoch)
    show_progress: bool = True
