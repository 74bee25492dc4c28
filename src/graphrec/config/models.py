"""Model config sections: one class per registered model, holding exactly the keys that model uses.

`[model] name = "..."` selects the class from :data:`MODEL_CONFIGS`; each class declares the training objective its
model wants (:class:`Objective`), which selects the `[train]` section's class (graphrec.config.train). Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from graphrec.config.params import SEED, Each, Interval, Options, Rule, Section, param

POSITIVE = Interval(int, 1, None)
# Propagation depth. Published optima are 1-4 layers; past a few dozen, repeated smoothing makes every node's
# embedding the graph's stationary vector (over-smoothing) while each layer adds a sparse product (or a sampled hop)
# per step, so a typo such as 100000 would run for hours towards a constant model: the bound refuses it up front.
MAX_LAYERS = 64
LAYERS = Interval(int, 0, MAX_LAYERS)  # 0: no propagation (LightGCN-0 is MF)
LAYERS_POSITIVE = Interval(int, 1, MAX_LAYERS)
DROPOUT = Interval(float, 0, 1, closed="left")
INITS = ("normal", "svd")
POOLINGS = ("importance", "mean", "max")
WALK_SAMPLERS = ("walks", "pixie")
AGGREGATORS = ("mean", "pool", "lstm")
SKIP_GRAM_CONTEXTS = ("all", "other_side")  # deepwalk / node2vec: every walk neighbour, or the other side's only
NOISE_SIDES = ("all", "context_side")  # deepwalk / node2vec: noise from every node, or from the context's side
NORMALISATIONS = ("zscore", "minmax", "raw")  # not "none": --set reads none as unset
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "identity")  # f of the gcn / gat layers
MAX_BLEND_CANDIDATES = 5000  # weightings the blend's grid search may evaluate


class Objective(str, Enum):
    """What a model is trained on."""

    EDGES = "edges"  # user–item edges with sampled negatives (BPR / BCE): mf, lightgcn, ngcf, gcn, gat, simgcl, …
    ITEM_PAIRS = "item_pairs"  # related item pairs, shared and hard negatives: pinsage, graphsage
    SKIP_GRAM = "skip_gram"  # (centre, context) pairs of random walks, negative sampling: deepwalk, node2vec
    CLOSED_FORM = "closed_form"  # nothing trained: popularity, itemknn


@dataclass
class ModelConfig(Section):
    """Base of the model sections; `name` selects the model (and the section's class) from the registry."""

    section = "model"
    objective: ClassVar[Objective] = Objective.EDGES

    name: str = "lightgcn"


def _name(model: str) -> str:
    return param(model, Options((model,)))


@dataclass
class PopularityConfig(ModelConfig):
    """Most-popular baseline: no hyperparameters."""

    objective = Objective.CLOSED_FORM
    name: str = _name("popularity")


@dataclass
class ItemKNNConfig(ModelConfig):
    """Item-based k-nearest neighbours on cosine similarity of the training matrix's item columns."""

    objective = Objective.CLOSED_FORM
    name: str = _name("itemknn")
    num_neighbours: int = param(100, POSITIVE)  # each item's top-N cosine neighbours kept
    shrink: float = param(0.0, Interval(float, 0, None))  # added to the cosine denominator


@dataclass
class ItemFilterConfig(ModelConfig):
    """Base of the training-free graph filters on the normalised item graph P̃ = R̃ᵀR̃ (gfcf, bspm, chebycf, turbocf).

    The dense I × I item graph (4·I² bytes) is formed only under `dense_budget_mb`; above it each application of P̃
    runs as two sparse products with R̃ (same scores, no I × I memory).
    """

    objective = Objective.CLOSED_FORM
    dense_budget_mb: float = param(1024.0, Interval(float, 0, None))  # MB (10⁶ bytes) the dense item graph may take


@dataclass
class GFCFConfig(ItemFilterConfig):
    """GF-CF (Shen et al., CIKM 2021): the linear filter R̃ᵀR̃ plus an ideal low-pass filter of rank `rank`."""

    name: str = _name("gfcf")
    alpha: float = param(0.3, Interval(float, 0, None))  # weight of the ideal low-pass term (the paper's 0.3)
    rank: int = param(256, POSITIVE)  # top singular vectors of R̃ kept by the ideal filter (the paper's 256)
    svd_seed: int = param(0, SEED)  # seed of the randomized SVD


SOLVERS = ("euler", "rk4")
MERGES = ("early", "late")
TURBO_FILTERS = ("linear", "quadratic", "cubic")


@dataclass
class BSPMConfig(ItemFilterConfig):
    """BSPM (Choi et al., SIGIR 2023): a blurring process dr/dt = r(P̃ − I) then a sharpening process dr/dt = −rP̃,
    each integrated with `*_steps` explicit steps to its terminal time, plus an ideal low-pass term of rank `rank`.

    Defaults are the official code's general defaults (one Euler step to T = 1 each, β 0.3, rank 256, early merge);
    `merge = "early"` is BSPM-EM (the ideal term enters before sharpening), "late" BSPM-LM (added after it).
    """

    name: str = _name("bspm")
    blur_solver: str = param("euler", Options(SOLVERS))  # explicit step of the blurring process
    blur_time: float = param(1.0, Interval(float, 0, None, closed="neither"))  # T_b
    blur_steps: int = param(1, POSITIVE)  # K_b: steps of size T_b / K_b
    sharpen_solver: str = param("euler", Options(SOLVERS))  # explicit step of the sharpening process
    sharpen_time: float = param(1.0, Interval(float, 0, None))  # T_s (0: no sharpening)
    sharpen_steps: int = param(1, POSITIVE)  # K_s: steps of size T_s / K_s
    ideal_weight: float = param(0.3, Interval(float, 0, None))  # β of the ideal low-pass term (0: no SVD)
    rank: int = param(256, POSITIVE)  # top singular vectors of R̃ kept by the ideal filter
    svd_seed: int = param(0, SEED)  # seed of the randomized SVD
    merge: str = param("early", Options(MERGES))  # early: BSPM-EM, late: BSPM-LM
    point_combination: bool = False  # score = mean of the states after every blurring and sharpening step


@dataclass
class TurboCFConfig(ItemFilterConfig):
    """Turbo-CF (Park et al., SIGIR 2024): P = (R̃ᵀR̃)^∘s with R̃ = D_U^{-β} R D_I^{-(1−β)}, scored through a
    polynomial low-pass filter of P. P is held explicitly: dense under `dense_budget_mb`, else sparse, which must fit
    the same budget (refused otherwise). Defaults: the official code's β 0.5, s 1, the linear filter.
    """

    name: str = _name("turbocf")
    beta: float = param(0.5, Interval(float, 0, 1))  # user-side normalisation power β (items get 1 − β)
    power: float = param(1.0, Interval(float, 0, None, closed="neither"))  # s of the element-wise power
    filter: str = param("linear", Options(TURBO_FILTERS))  # P | 2P − P² | P + 0.01(−P³ + 10P² − 29P)


@dataclass
class ChebyCFConfig(ItemFilterConfig):
    """ChebyCF (Kim et al., SIGIR 2025): a Chebyshev-interpolated plateau filter in L̃ = I − 2R̃ᵀR̃, plus an ideal
    low-pass filter, with item-degree normalisation. Defaults: the official Gowalla configuration (K 8, φ 1.5, η 512,
    α 0.2, β 0.4; Amazon-book / Last-FM use φ 10 / 15). The earlier default, the median of the three configurations
    (φ 10, β 0.2), measured far below φ 1.5 on generated data (test Recall@20 0.0289 against 0.0639), level on
    MovieLens (0.1041 / 0.1042), and on Gowalla at 0.1419 against 0.1886 for the tuned φ 2.0, β 0.3
    (BENCHMARKS.md, "Defaults")."""

    name: str = _name("chebycf")
    order: int = param(8, POSITIVE)  # K, the degree of the Chebyshev interpolant (one application of P̃ per degree)
    flatness: float = param(1.5, Interval(float, 0, None, closed="neither"))  # φ of the plateau ½ − ½ sign(λ)|λ|^φ
    alpha: float = param(0.2, Interval(float, 0, None))  # weight of the ideal low-pass term (0: no SVD)
    rank: int = param(512, POSITIVE)  # η, top singular vectors of R̃ kept by the ideal filter
    degree_power: float = param(0.4, Interval(float, 0, None))  # β: scores of r_u D_I^{-β} (…) D_I^{β}
    svd_seed: int = param(0, SEED)  # seed of the randomized SVD


@dataclass
class EASEConfig(ModelConfig):
    """EASE (Steck, WWW 2019): a closed-form item–item regression, B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹."""

    objective = Objective.CLOSED_FORM
    name: str = _name("ease")
    l2: float = param(500.0, Interval(float, 0, None, closed="neither"))  # λ of the ridge penalty (Steck: 200–1000)
    max_items: int = param(20_000, POSITIVE)  # refuse above this many items (the fit holds ~3 dense I × I matrices)


def blend_grid_size(runs: int, steps: int) -> int:
    """Weightings on the simplex of `runs` weights in steps of 1/`steps`: C(steps + runs − 1, runs − 1)."""
    return math.comb(steps + runs - 1, runs - 1) if runs else 0


def _largest_grid(config: BlendConfig) -> int:
    steps = 1
    while blend_grid_size(len(config.runs), steps + 1) <= MAX_BLEND_CANDIDATES and steps < MAX_BLEND_CANDIDATES:
        steps += 1
    return steps


def blend_runs_problem(runs: list[str]) -> str | None:
    """What was expected of `model.runs` when it is not a list of at least 2 distinct runs (None when it is)."""
    if len(runs) < 2 or len(set(runs)) < len(runs):
        return 'at least 2 distinct run directories trained on this data (model "blend" blends their scores)'
    return None


BLEND_RUNS_EXAMPLE = ["runs/gfcf", "runs/itemknn"]


def _equal_blend(config: BlendConfig) -> list[float]:
    return [round(1 / len(config.runs), 4)] * len(config.runs) if config.runs else []


def _blend_weight_count(config: BlendConfig) -> str | None:
    if config.weights is not None and len(config.weights) != len(config.runs):
        return f"{len(config.runs)} weights (one per run of model.runs)"
    return None


def _blend_weight_sum(config: BlendConfig) -> str | None:
    if config.weights and not sum(config.weights) > 0:
        return "weights ≥ 0, at least one of them > 0"
    return None


def _blend_grid(config: BlendConfig) -> str | None:
    size = blend_grid_size(len(config.runs), config.grid_steps)
    if config.weights is None and size > MAX_BLEND_CANDIDATES:
        return (
            f"a grid of at most {MAX_BLEND_CANDIDATES:,} weightings ({len(config.runs)} runs in steps of "
            f"1/{config.grid_steps} make {size:,})"
        )
    return None


@dataclass
class BlendConfig(ModelConfig):
    """A blend of the scores of trained runs: s_u = Σ_j w_j · norm(s_u^(j)), per-user normalised member scores.

    `weights` unset: chosen on the validation split among every weighting on the simplex in steps of 1/`grid_steps`
    (each member alone included). `runs` are run directories trained on this data (same training split and ids),
    read relative to the working directory like `data.path` (the run's selection.json records them resolved).
    """

    objective = Objective.CLOSED_FORM
    rules = (
        Rule("weights", _blend_weight_count, _equal_blend, {"weights": [1.0]}),
        Rule("weights", _blend_weight_sum, _equal_blend, {"runs": ["runs/a", "runs/b"], "weights": [0.0, 0.0]}),
        Rule("grid_steps", _blend_grid, _largest_grid, {"runs": ["runs/a"] * 6, "grid_steps": 100}),
    )
    name: str = _name("blend")
    runs: list[str] = param([], example=BLEND_RUNS_EXAMPLE)  # noqa: RUF009
    weights: list[float] | None = param(None, Each(Interval(float, 0, None)), example=_equal_blend)  # noqa: RUF009
    # per-user normalisation of each member's scores over the items it can recommend (zscore | minmax | raw)
    normalise: str = param("zscore", Options(NORMALISATIONS))
    grid_steps: int = param(10, POSITIVE)  # the weight search's simplex grid: weights in steps of 1/grid_steps


@dataclass
class MFConfig(ModelConfig):
    """Matrix factorisation: embedding tables only."""

    name: str = _name("mf")
    embedding_dim: int = param(64, POSITIVE)
    init_std: float = param(0.1, Interval(float, 0, None, closed="neither"))  # N(0, init_std) initialisation
    init: str = param("normal", Options(INITS))  # normal | svd (spectral start from the normalised interactions)
    init_seed: int = param(0, SEED)  # seed of the randomized SVD when init = "svd"


def _layer_weights(config: PropagationConfig) -> str | None:
    if config.layer_weights is not None and len(config.layer_weights) != config.num_layers + 1:
        return (
            f"{config.num_layers + 1} weights (one per layer 0..{config.num_layers}, "
            f"model.num_layers = {config.num_layers})"
        )
    return None


def _fanouts(config: LightGCNConfig | NGCFConfig | GraphConvConfig) -> str | None:
    if config.fanouts is not None and len(config.fanouts) != config.num_layers:
        return f"{config.num_layers} neighbours-per-node counts (one per layer, model.num_layers = {config.num_layers})"
    return None


def _node_dropout(config: NGCFConfig) -> str | None:
    if config.fanouts is not None and config.node_dropout > 0:
        return "0 while model.fanouts is set (edge dropout is not applied on sampled computation graphs)"
    return None


def _equal_weights(num_layers: int) -> list[float]:
    return [round(1 / (num_layers + 1), 4)] * (num_layers + 1)


FANOUTS_RULE = Rule("fanouts", _fanouts, lambda c: [10] * c.num_layers, {"fanouts": [10]})


LAYER_WEIGHTS_RULE = Rule(
    "layer_weights", _layer_weights, lambda c: _equal_weights(c.num_layers), {"layer_weights": [0.5, 0.5]}
)


@dataclass
class PropagationConfig(MFConfig):
    """The keys of linear propagation (LightGCN and the models built on it): K layers combined with weights α_k."""

    rules: ClassVar[tuple[Rule, ...]] = (LAYER_WEIGHTS_RULE,)
    num_layers: int = param(3, LAYERS)
    # LightGCN alpha_k; None = 1/(K+1) each (simgcl, xsimgcl: layers 1..K only, see SimGCLConfig)
    layer_weights: list[float] | None = param(None, example=lambda c: _equal_weights(c.num_layers))  # noqa: RUF009


@dataclass
class LightGCNConfig(PropagationConfig):
    """LightGCN: K propagation layers combined with weights α_k; optional neighbour-sampled training."""

    rules = (LAYER_WEIGHTS_RULE, FANOUTS_RULE)
    name: str = _name("lightgcn")
    # Mini-batch training on sampled computation graphs (graph.sampled): neighbours drawn per node for layers 1..K;
    # None trains with full propagation. Validation and inference always propagate over the full graph.
    fanouts: list[int] | None = param(None, Each(POSITIVE), example=lambda c: [10] * c.num_layers)  # noqa: RUF009


def _contrast_layer(config: XSimGCLConfig) -> str | None:
    if config.contrast_layer > config.num_layers:
        return f"a layer in 1..{config.num_layers} (model.num_layers = {config.num_layers})"
    return None


@dataclass
class SimGCLConfig(PropagationConfig):
    """SimGCL (Yu et al., SIGIR 2022): LightGCN trained with BPR plus InfoNCE between two noise-perturbed views.

    Defaults are SELFRec's tuned settings (2 layers, ε 0.1, τ 0.2) except λ: 0.05, not 0.5. At 0.5 the user-side
    InfoNCE (a uniformity push over nearly every user of a small dataset in each batch) wipes out the shared
    direction BPR learns first, and the model ranked under popularity on MovieLens latest-small and generated data;
    0.05 trained on all three datasets measured (BENCHMARKS.md, "Defaults"). `layer_weights` None combines layers
    1..K equally, leaving the ego layer 0 out, as SELFRec's encoder does; set it to weigh layer 0 in."""

    name: str = _name("simgcl")
    num_layers: int = param(2, LAYERS_POSITIVE)  # noise is added to the output of each of layers 1..K
    noise_eps: float = param(0.1, Interval(float, 0, None))  # ε: the L2 norm of each node's noise vector per layer
    temperature: float = param(0.2, Interval(float, 0, None, closed="neither"))  # τ of the InfoNCE
    contrast_weight: float = param(0.05, Interval(float, 0, None))  # λ: weight of the InfoNCE term in the loss


@dataclass
class XSimGCLConfig(SimGCLConfig):
    """XSimGCL (Yu et al., TKDE 2023): one noisy pass; BPR on its final embeddings and InfoNCE between those and
    layer `contrast_layer` (l*) of the same pass. Defaults: SELFRec's tuned settings (ε 0.2, l* 1, τ 0.15) except λ,
    0.05 instead of 0.2 for the reason SimGCL's is: better on MovieLens and generated data, 6% under 0.2 on Gowalla
    at a 120 s budget (configs/gowalla_xsimgcl.toml keeps 0.2)."""

    rules = (
        LAYER_WEIGHTS_RULE,
        Rule("contrast_layer", _contrast_layer, lambda c: 1, {"num_layers": 1, "contrast_layer": 2}),
    )
    name: str = _name("xsimgcl")
    noise_eps: float = param(0.2, Interval(float, 0, None))
    temperature: float = param(0.15, Interval(float, 0, None, closed="neither"))
    contrast_weight: float = param(0.05, Interval(float, 0, None))
    contrast_layer: int = param(1, POSITIVE)  # l*: the layer whose (noisy) output is the second view


@dataclass
class NGCFConfig(ModelConfig):
    """NGCF: transformed propagation layers with message and node dropout (Xavier initialisation)."""

    rules = (
        FANOUTS_RULE,
        Rule("node_dropout", _node_dropout, lambda c: 0.0, {"fanouts": [10, 10, 10], "node_dropout": 0.1}),
    )
    name: str = _name("ngcf")
    embedding_dim: int = param(64, POSITIVE)
    num_layers: int = param(3, LAYERS)
    message_dropout: float = param(0.1, DROPOUT)  # dropout on each layer's output messages
    node_dropout: float = param(0.0, DROPOUT)  # fraction of graph edges dropped per training step
    leaky_relu_slope: float = param(0.2, Interval(float, 0, None))
    fanouts: list[int] | None = param(None, Each(POSITIVE), example=lambda c: [10] * c.num_layers)  # noqa: RUF009


def _window(config: DeepWalkConfig) -> str | None:
    if config.window > config.walk_length - 1:
        return (
            f"at most {config.walk_length - 1} (model.walk_length − 1: a context lies within the walk, "
            f"model.walk_length = {config.walk_length})"
        )
    return None


@dataclass
class DeepWalkConfig(ModelConfig):
    """DeepWalk (Perozzi et al., KDD 2014): skip-gram with negative sampling over uniform random walks on the
    user–item graph. Every epoch starts `num_walks` walks of `walk_length` nodes at every node with an edge; each
    node of a walk predicts the nodes up to `window` steps before and after it, against `num_negatives` nodes drawn
    ∝ degree^`negative_power`. Defaults are smaller than the paper's (γ 80, t 40, w 10): an epoch of those
    makes ~10⁵ pairs per node."""

    objective = Objective.SKIP_GRAM
    rules = (Rule("window", _window, lambda c: min(5, c.walk_length - 1), {"walk_length": 4, "window": 5}),)
    name: str = _name("deepwalk")
    embedding_dim: int = param(64, POSITIVE)
    init_std: float = param(0.1, Interval(float, 0, None, closed="neither"))  # N(0, init_std) initialisation
    num_walks: int = param(10, POSITIVE)  # γ: walks started at every node per epoch
    walk_length: int = param(20, Interval(int, 2, None))  # t: nodes per walk, the start included
    window: int = param(5, POSITIVE)  # w: context nodes up to w steps before and after the centre
    num_negatives: int = param(5, POSITIVE)  # K: noise nodes per (centre, context) pair
    # noise ∝ degree^power. 0 (uniform), not word2vec's 3/4: popular noise nodes push z_uᵀz_i towards PMI, which
    # ranks the tail first (MovieLens test Recall@20 0.0159 at 3/4 against 0.0799 at 0; generated 0.0067 / 0.0205).
    negative_power: float = param(0.0, Interval(float, 0, None))
    # which walk neighbours are contexts: all, or only those on the other side (odd offsets: user–item pairs, the
    # ones a recommendation scores)
    contexts: str = param("all", Options(SKIP_GRAM_CONTEXTS))
    # where noise is drawn: among all nodes, or on the context's side only (metapath2vec++'s typed negatives, so a
    # user is contrasted with items, as BPR does)
    noise: str = param("all", Options(NOISE_SIDES))
    # > 1: each noise node is the highest-scored of this many draws (dynamic negative sampling, Zhang et al. 2013,
    # as train.negative_candidates does for BPR): uniform noise is mostly too easy on a sparse catalogue
    noise_candidates: int = param(1, POSITIVE)


@dataclass
class Node2VecConfig(DeepWalkConfig):
    """node2vec (Grover & Leskovec, KDD 2016): DeepWalk's objective over second-order biased walks. Having stepped
    t → v, the walk moves to x ∝ 1/p if x = t, 1 if x neighbours t, 1/q otherwise (on the user–item graph: 1/p back,
    1/q on). p = q = 1 is DeepWalk; low q explores outward (DFS-like), low p stays local (BFS-like)."""

    name: str = _name("node2vec")
    p: float = param(1.0, Interval(float, 0, None, closed="neither"))  # return parameter
    q: float = param(1.0, Interval(float, 0, None, closed="neither"))  # in-out parameter


@dataclass
class GraphConvConfig(PropagationConfig):
    """The keys GCN and GAT share: K transformed layers f(…) on the user–item graph, combined with weights α_k
    (LightGCN's layer combination; `layer_weights` None = the mean of layers 0..K, [0, …, 0, 1] = the last layer)."""

    rules: ClassVar[tuple[Rule, ...]] = (LAYER_WEIGHTS_RULE, FANOUTS_RULE)
    num_layers: int = param(2, LAYERS)
    activation: str = param("tanh", Options(ACTIVATIONS))  # f of every layer
    leaky_relu_slope: float = param(0.2, Interval(float, 0, None))  # negative slope of activation = "leaky_relu"
    use_features: bool = True  # add projected item features (features.catalogue) to the items' layer 0
    # Mini-batch training on sampled computation graphs (graph.sampled): neighbours drawn per node for layers 1..K;
    # None trains with full propagation. Validation and inference always propagate over the full graph.
    fanouts: list[int] | None = param(None, Each(POSITIVE), example=lambda c: [10] * c.num_layers)  # noqa: RUF009


@dataclass
class GCNConfig(GraphConvConfig):
    """GCN (Kipf & Welling 2017, mean-aggregation form): h_v = f(W · mean_{u∈N(v)} h_u + B · h_v) per layer."""

    name: str = _name("gcn")


def _heads_divide(config: GATConfig) -> str | None:
    if config.embedding_dim % config.num_heads:
        return f"a divisor of model.embedding_dim = {config.embedding_dim} (each head has embedding_dim / num_heads)"
    return None


def _divisor_heads(config: GATConfig) -> int:
    """The largest divisor of embedding_dim not above num_heads (what the error suggests)."""
    return max(h for h in range(1, config.num_heads + 1) if config.embedding_dim % h == 0)


@dataclass
class GATConfig(GraphConvConfig):
    """GAT (Veličković et al., ICLR 2018): multi-head attention over each node's neighbours and itself."""

    rules = (
        LAYER_WEIGHTS_RULE,
        FANOUTS_RULE,
        Rule("num_heads", _heads_divide, _divisor_heads, {"embedding_dim": 64, "num_heads": 3}),
    )
    name: str = _name("gat")
    activation: str = param("elu", Options(ACTIVATIONS))  # the paper's ELU
    num_heads: int = param(4, POSITIVE)  # H: attention heads per layer, concatenated (each embedding_dim / H wide)
    attention_slope: float = param(0.2, Interval(float, 0, None))  # LeakyReLU slope of the attention scores


def _has_input(config: ItemGraphConfig) -> str | None:
    if not config.use_features and not config.use_id_embedding:
        return "true when model.use_features = false (the model needs an input: features or id embeddings)"
    return None


@dataclass
class ItemGraphConfig(ModelConfig):
    """The keys PinSAGE and GraphSAGE share: item features in, neighbourhoods on the item–user–item graph."""

    objective = Objective.ITEM_PAIRS
    rules = (Rule("use_id_embedding", _has_input, lambda c: True, {"use_features": False}),)
    embedding_dim: int = param(64, POSITIVE)
    num_layers: int = param(3, LAYERS_POSITIVE)
    init_std: float = param(0.1, Interval(float, 0, None, closed="neither"))  # N(0, init_std) of the id embeddings
    init_seed: int = param(0, SEED)  # seed of the fixed inference and user-weight walks
    hidden_dim: int = param(128, POSITIVE)  # width of the neighbour transform (PinSAGE's Q; GraphSAGE's pooling)
    num_neighbours: int = param(10, POSITIVE)  # PinSAGE: top-T by visit count; GraphSAGE: uniform sample per layer
    use_features: bool = True  # feed the item features (features.catalogue) to the first layer
    use_id_embedding: bool = False  # also learn an id embedding per item (not inductive: new items get zeros)
    user_recent_items: int = param(50, POSITIVE)  # user vector = importance-weighted mean of this many recent items


@dataclass
class PinSAGEConfig(ItemGraphConfig):
    """PinSAGE: random-walk importance neighbourhoods and importance pooling."""

    name: str = _name("pinsage")
    num_walks: int = param(50, POSITIVE)  # walks per node when sampling a neighbourhood
    walk_length: int = param(2, POSITIVE)  # item → user → item steps per walk
    # Training neighbourhoods: "walks" (num_walks walks of walk_length steps) or "pixie" (PinSAGE Algorithm 2: walks
    # with restart, early-stopped once num_neighbours items have 4 visits, or after pixie_steps steps).
    walk_sampler: str = param("walks", Options(WALK_SAMPLERS))
    pixie_steps: int = param(1000, POSITIVE)
    pooling: str = param("importance", Options(POOLINGS))  # γ: importance (visit-count weighted mean) | mean | max
    # The fixed inference neighbourhoods: "exact" (top-T by expected visit counts: deterministic, but each item's
    # walk state is a dense row over the catalogue, so the cost grows with items²) or "walks" (top-T of num_walks
    # sampled walks with a fixed seed, linear in the items: for catalogues of 10⁵ items and more)
    inference_neighbourhoods: str = param("exact", Options(("exact", "walks")))


@dataclass
class GraphSAGEConfig(ItemGraphConfig):
    """GraphSAGE: uniformly sampled one-step neighbours and a mean / max-pool / LSTM aggregator."""

    name: str = _name("graphsage")
    aggregator: str = param("mean", Options(AGGREGATORS))


MODEL_CONFIGS: dict[str, type[ModelConfig]] = {
    "popularity": PopularityConfig,
    "itemknn": ItemKNNConfig,
    "gfcf": GFCFConfig,
    "chebycf": ChebyCFConfig,
    "bspm": BSPMConfig,
    "turbocf": TurboCFConfig,
    "ease": EASEConfig,
    "mf": MFConfig,
    "lightgcn": LightGCNConfig,
    "simgcl": SimGCLConfig,
    "xsimgcl": XSimGCLConfig,
    "ngcf": NGCFConfig,
    "gcn": GCNConfig,
    "gat": GATConfig,
    "pinsage": PinSAGEConfig,
    "graphsage": GraphSAGEConfig,
    "deepwalk": DeepWalkConfig,
    "node2vec": Node2VecConfig,
    "blend": BlendConfig,
}

# The keys every model config of earlier versions had (one ModelConfig for all): run directories hold all of them.
LEGACY_MODEL_KEYS = frozenset(
    {
        "name",
        "embedding_dim",
        "num_layers",
        "layer_weights",
        "init_std",
        "init",
        "init_seed",
        "message_dropout",
        "node_dropout",
        "leaky_relu_slope",
        "fanouts",
        "hidden_dim",
        "num_neighbours",
        "num_walks",
        "walk_length",
        "walk_sampler",
        "pixie_steps",
        "pooling",
        "aggregator",
        "use_features",
        "use_id_embedding",
        "user_recent_items",
    }
)


def model_config(name: str = "lightgcn", **values: object) -> ModelConfig:
    """The config section of model `name` with `values` set (ConfigError for a key the model does not use)."""
    from graphrec.config.run import section_from_dict

    return section_from_dict(model_config_class(name), {"name": name, **values})


def model_config_class(name: str) -> type[ModelConfig]:
    """The config class of model `name`; ConfigError (the template) listing the registered names otherwise."""
    from graphrec.config.params import error_message
    from graphrec.errors import ConfigError

    try:
        return MODEL_CONFIGS[name]
    except (KeyError, TypeError):
        expected = Options(tuple(sorted(MODEL_CONFIGS))).describe()
        raise ConfigError(error_message("model.name", expected, name, "lightgcn")) from None
