"""XSimGCL (Yu et al., TKDE 2023, "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
Recommendation"): SimGCL with one noisy pass per step, contrasting its final embeddings with one of its layers."""

from __future__ import annotations

import torch

from graphrec.config.models import XSimGCLConfig
from graphrec.models.base import ContrastiveForward
from graphrec.models.simgcl import SimGCL


class XSimGCL(SimGCL):
    r"""XSimGCL: one noisy pass E'^{(0..K)} of :class:`~graphrec.models.simgcl.SimGCL` per training step. The edge
    loss scores its final embeddings E' = Σ_k α_k E'^{(k)} (noise included), and the InfoNCE contrasts E' with the
    noisy output of layer l* = `contrast_layer`, E'^{(l*)}. Scoring uses the clean propagation, as SimGCL.

    Args: as SimGCL; config adds contrast_layer (l*, 1..K).
    """

    name = "xsimgcl"
    config: XSimGCLConfig

    def contrastive_forward(self, generator: torch.Generator) -> ContrastiveForward:
        layers = self.noisy_layers(generator)
        users, items = self.combine(layers)
        layer_users, layer_items = self.split(layers[self.config.contrast_layer])
        return ContrastiveForward(users, items, (users, layer_users), (items, layer_items))
