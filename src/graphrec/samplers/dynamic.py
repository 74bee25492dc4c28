"""Dynamic negative sampling (DNS, Zhang et al. 2013): of M uniform candidates, train on the one the model ranks
highest. It costs M extra dot products per negative — negligible next to a graph propagation — and gives BPR
informative pairs once the easy negatives are already ranked low."""

from __future__ import annotations

import torch


@torch.no_grad()
def select_hardest(candidates: torch.Tensor, user_vectors: torch.Tensor, item_embeddings: torch.Tensor) -> torch.Tensor:
    """For candidates (B, N, M) pick, per (user, slot), the candidate with the highest score: result (B, N)."""
    scores = torch.einsum("bd,bnmd->bnm", user_vectors, item_embeddings[candidates])
    best = scores.argmax(dim=2, keepdim=True)
    return candidates.gather(2, best).squeeze(2)
