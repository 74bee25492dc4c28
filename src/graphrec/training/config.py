"""Configuration of the training loop."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Optimisation, sampling, validation and early-stopping settings."""

    epochs: int = 100
    batch_size: int = 8192
    lr: float = 0.005
    lr_final: float | None = None  # linear decay from lr to lr_final over the planned steps (None: constant)
    l2_reg: float = 1e-4  # L2 on the batch's ego (layer-0) embeddings, as in LightGCN
    weight_decay: float = 0.0  # Adam weight decay on non-embedding parameters (NGCF's W1/W2)
    loss: str = "bpr"  # bpr | bce | margin (item pairs: max(0, z_q·z_n − z_q·z_i + margin))
    num_negatives: int = 1
    negative_candidates: int = 1  # > 1: dynamic negative sampling, hardest of this many uniform draws per negative
    # Sampled training (model.fanouts) with DNS: candidates are ranked by full-propagation embeddings recomputed
    # (without gradients) every this many steps; 0: once per epoch.
    score_refresh_steps: int = 0
    # Sampled training (model.fanouts) only: sparse embedding-table gradients and a lazy Adam that updates only the
    # rows a step touched (graphrec.training.lazy_adam), so a step's cost does not grow with users + items.
    sparse_updates: bool = False
    eval_every: int = 5  # epochs between validation passes
    metric: str = "ndcg@20"  # validation metric for early stopping and the best checkpoint
    patience: int = 5  # validation passes without improvement before stopping; 0 disables early stopping
    time_budget_s: float | None = None  # stop after this many seconds of training (checked per epoch)
    show_progress: bool = True
    # Item-pair training (PinSAGE, GraphSAGE): related pairs (q, i), shared + hard negatives, curriculum.
    margin: float = 0.1  # Δ of the max-margin loss
    shared_negatives: int = 500  # uniform negatives shared by every pair of a mini-batch
    hard_negatives: int = 0  # hard negatives per query (with curriculum: the cap of epoch n's n − 1)
    curriculum: bool = True  # epoch 1 without hard negatives, epoch n with min(n − 1, hard_negatives)
    hard_window: list[float] = field(default_factory=lambda: [0.02, 0.05])  # PPR rank window (≤ 1: fraction)
    hard_pool: int = 64  # hard candidates kept per item (sampled from its window once, before training)
    distance_weighted: int = 0  # > 0: per query, draw this many of the shared negatives by distance weighting
    num_workers: int = 0  # background processes sampling neighbourhoods (producer–consumer); 0: in-process
