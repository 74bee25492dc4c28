"""Training config sections: the keys every trained objective shares, and one class per objective with its own.

`[train]` stays one flat table; it is parsed by :data:`TRAIN_CONFIGS`\\ [objective], the objective being the chosen
model's (graphrec.config.models.Objective). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphrec.config.models import Objective
from graphrec.config.params import Each, Interval, Length, Options, Rule, Section, param

POSITIVE = Interval(int, 1, None)
NON_NEGATIVE = Interval(int, 0, None)
EDGE_LOSSES = ("bpr", "bce")
PAIR_LOSSES = ("margin", "bce", "bpr")
PARTITIONERS = ("edge-balanced", "min-cut")  # node partitions of partitioned training (graphrec.graph.partition)


@dataclass
class ClosedFormTrainConfig(Section):
    """Models fitted in closed form (popularity, itemknn) train nothing: only the validation metric is reported."""

    section = "train"

    metric: str = "ndcg@20"  # validation metric reported (must be one of eval.ks's, see RunConfig)


def _stops(config: TrainConfig) -> str | None:
    if config.epochs is None and not config.patience and config.time_budget_s is None:
        return (
            "at least 1 while train.epochs is unset (training then ends when validation stops improving; "
            "or set train.epochs or train.time_budget_s)"
        )
    return None


def _planned_epochs(config: TrainConfig) -> str | None:
    if config.epochs is None and config.lr_final is not None:
        return "none while train.epochs is unset (the decay runs over a planned number of epochs: set train.epochs too)"
    return None


STOPPING_RULES: tuple[Rule, ...] = (
    Rule("patience", _stops, lambda c: 5, {"patience": 0}),
    Rule("lr_final", _planned_epochs, lambda c: None, {"lr_final": 0.0005}),
)


@dataclass
class TrainConfig(Section):
    """Optimisation, validation and early-stopping settings shared by every trained objective.

    By default the number of epochs is chosen by validation: training runs until `patience` validation passes in a
    row have not improved `metric` (or until `time_budget_s`), and the run keeps the best validated model. A fixed
    `epochs` is for training without a validation split (data.valid_ratio = 0), e.g. a final fit on all the data with
    an epoch count chosen on a tuning split.
    """

    section = "train"
    rules = STOPPING_RULES

    # None: until early stopping (train.patience) or the time budget; N: at most N epochs (≥ 1: 0 would train
    # nothing and leave a run without a model)
    epochs: int | None = param(None, POSITIVE, example=100)
    batch_size: int = param(8192, POSITIVE)
    lr: float = param(0.005, Interval(float, 0, None, closed="neither"))
    # linear decay from lr to lr_final over the planned steps (None: constant)
    lr_final: float | None = param(
        None, Interval(float, 0, None), example=lambda c: None if c.epochs is None else 0.0005
    )
    weight_decay: float = param(0.0, Interval(float, 0, None))  # Adam weight decay on non-embedding parameters
    eval_every: int = param(5, POSITIVE)  # epochs between validation passes
    metric: str = "ndcg@20"  # validation metric for early stopping and the best checkpoint (see RunConfig)
    patience: int = param(5, NON_NEGATIVE)  # validation passes without improvement before stopping; 0: never stop
    # stop once training and its validation passes have taken this many seconds (checked after each epoch, and
    # that epoch is validated, so the model kept is the best of everything trained)
    time_budget_s: float | None = param(None, Interval(float, 0, None, closed="neither"), example=3600.0)
    # the epoch's progress bar: None only when stderr is a terminal, true always (--progress), false never
    show_progress: bool | None = param(None, example=True)


@dataclass
class EdgeTrainConfig(TrainConfig):
    """User–item edges with sampled negatives (MF, LightGCN, NGCF)."""

    loss: str = param("bpr", Options(EDGE_LOSSES))
    l2_reg: float = param(1e-4, Interval(float, 0, None))  # L2 on the batch's ego (layer-0) embeddings, as LightGCN
    num_negatives: int = param(1, POSITIVE)
    negative_candidates: int = param(1, POSITIVE)  # > 1: dynamic negative sampling, hardest of this many draws
    # Sampled training (model.fanouts) with DNS: candidates are ranked by full-propagation embeddings recomputed
    # (without gradients) every this many steps; 0: once per epoch.
    score_refresh_steps: int = param(0, NON_NEGATIVE)
    # Sampled training (model.fanouts) only: sparse embedding-table gradients and a lazy Adam that updates only the
    # rows a step touched (graphrec.training.lazy_adam), so a step's cost does not grow with users + items.
    sparse_updates: bool = False
    # model.fanouts only: background processes drawing each batch's computation graph while the model trains
    # (PinSAGE's producer-consumer); 0: in-process. The graphs are the same for any number of workers.
    num_workers: int = param(0, NON_NEGATIVE)
    # torchrun: split Ã, the embedding tables and Adam's state across the ranks (LightGCN with full propagation;
    # graphrec.training.partitioned) instead of replicating them on every rank
    partitioned: bool = False
    partitioner: str = param("edge-balanced", Options(PARTITIONERS))  # min-cut: METIS, fewer exchanged rows
    # how a layer's halo rows move: all_to_all (only those rows), all_gather (every rank's rows), or auto (whichever
    # measures faster when training starts)
    halo_exchange: str = param("auto", Options(("auto", "all_to_all", "all_gather")))


def _window_order(config: ItemPairTrainConfig) -> str | None:
    low, high = config.hard_window
    if not low < high:
        return "a rank window [low, high] with low < high (values ≤ 1: fractions of the catalogue, else ranks)"
    return None


@dataclass
class ItemPairTrainConfig(TrainConfig):
    """Related item pairs (q, i) with shared, hard and curriculum negatives (PinSAGE, GraphSAGE)."""

    rules = (
        *STOPPING_RULES,
        Rule("hard_window", _window_order, lambda c: [0.02, 0.05], {"hard_window": [0.05, 0.02]}),
    )
    # margin: max(0, z_q·z_n − z_q·z_i + margin); bce / bpr for ablations
    loss: str = param("bpr", Options(PAIR_LOSSES))
    margin: float = param(0.1, Interval(float, 0, None))  # Δ of the max-margin loss
    shared_negatives: int = param(500, POSITIVE)  # uniform negatives shared by every pair of a mini-batch
    hard_negatives: int = param(0, NON_NEGATIVE)  # hard negatives per query (curriculum: epoch n's n − 1, capped)
    curriculum: bool = True  # epoch 1 without hard negatives, epoch n with min(n − 1, hard_negatives)
    # rank window of q's personalised PageRank (values ≤ 1: fractions of the catalogue, larger: ranks)
    hard_window: list[float] = param([0.02, 0.05], Each(Interval(float, 0, None)), Length(exact=2))  # noqa: RUF009
    hard_pool: int = param(64, POSITIVE)  # hard candidates kept per item (sampled from its window once)
    # power-iteration steps of that PageRank; 1: the one-step walk, sparse (fast on 10⁵ items; ranks only items
    # sharing a user with q, the rest of the window falls back to shared negatives)
    hard_ppr_steps: int = param(20, POSITIVE)
    pairs_per_epoch: int | None = param(None, POSITIVE)  # None: every pair each epoch; n: a fresh random n per epoch
    distance_weighted: int = param(0, NON_NEGATIVE)  # > 0: per query, this many shared negatives by distance weighting
    num_workers: int = param(0, NON_NEGATIVE)  # background processes sampling neighbourhoods; 0: in-process


@dataclass
class SkipGramTrainConfig(TrainConfig):
    """Skip-gram with negative sampling over random walks (DeepWalk, node2vec): the walk and context keys are the
    model's (model.num_walks, walk_length, window, num_negatives); `batch_size` counts (centre, context) pairs."""


TrainSection = ClosedFormTrainConfig | EdgeTrainConfig | ItemPairTrainConfig | SkipGramTrainConfig

TRAIN_CONFIGS: dict[Objective, type[Section]] = {
    Objective.EDGES: EdgeTrainConfig,
    Objective.ITEM_PAIRS: ItemPairTrainConfig,
    Objective.SKIP_GRAM: SkipGramTrainConfig,
    Objective.CLOSED_FORM: ClosedFormTrainConfig,
}
