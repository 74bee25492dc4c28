"""Configuration of full-ranking evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    """Which cut-offs to report and how many users to score at once (results never depend on it)."""

    ks: list[int] = field(default_factory=lambda: [10, 20])
    chunk_size: int = 2048
