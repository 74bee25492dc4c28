"""Configuration shared by every model (each model reads the fields it needs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    """Hyperparameters of a model; `name` selects it from the registry."""

    name: str = "lightgcn"
    embedding_dim: int = 64
    num_layers: int = 3
    layer_weights: list[float] | None = None  # LightGCN alpha_k; None = 1/(K+1) each
    init_std: float = 0.1  # N(0, init_std) initialisation of the embedding tables
    init: str = "normal"  # normal | svd (MF, LightGCN: spectral start from the normalised interactions, see graph.spectral)
    init_seed: int = 0  # seed of the randomized SVD when init = "svd"
    message_dropout: float = 0.1  # NGCF: dropout on each layer's output messages
    node_dropout: float = 0.0  # NGCF: fraction of graph edges dropped per training step
    leaky_relu_slope: float = 0.2  # NGCF
    # LightGCN / NGCF mini-batch training on sampled computation graphs (graph.sampled): neighbours drawn per node
    # for layers 1..K; None trains with full propagation. Validation and inference always propagate over the full graph.
    fanouts: list[int] | None = None
    # Item-graph models (PinSAGE, GraphSAGE): item features in, neighbourhoods on the item–user–item graph.
    hidden_dim: int = 128  # width of the neighbour transform (PinSAGE's Q; GraphSAGE's pooling layer)
    num_neighbours: int = 10  # PinSAGE: top-T by visit count; GraphSAGE: uniform sample size per layer; ItemKNN: top-N
    shrink: float = 0.0  # ItemKNN: added to the cosine denominator
    num_walks: int = 50  # PinSAGE: walks per node when sampling a neighbourhood
    walk_length: int = 2  # PinSAGE: item → user → item steps per walk
    # PinSAGE training neighbourhoods: "walks" (num_walks walks of walk_length steps) or "pixie" (PinSAGE Algorithm 2:
    # walks with restart, early-stopped once num_neighbours items have 4 visits, or after pixie_steps steps).
    walk_sampler: str = "walks"
    pixie_steps: int = 1000
    pooling: str = "importance"  # PinSAGE γ: importance (visit-count weighted mean) | mean | max
    aggregator: str = "mean"  # GraphSAGE: mean | pool | lstm
    use_features: bool = True  # feed the item features (features.catalogue) to the first layer
    use_id_embedding: bool = False  # also learn an id embedding per item (not inductive: new items get zeros)
    user_recent_items: int = 50  # user vector = importance-weighted mean of this many most recent items
