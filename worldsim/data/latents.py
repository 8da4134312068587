"""Encoded episodes: each recorded episode's (mu, logvar) series under V, with its actions,
rewards and ends, as the encode stage stores them in a run's latents/ folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class LatentEpisode:
    mu: np.ndarray  # (T+1, z_dim) float32
    logvar: np.ndarray  # (T+1, z_dim) float32
    actions: np.ndarray  # (T,) or (T, action_dim)
    rewards: np.ndarray  # (T,)
    terminated: np.ndarray  # (T,) bool


def draw_z(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """z drawn from V's posterior (mu + sigma * noise), as M is trained on it and as its dream gives
    it: where V leaves a dimension unused, its mean hardly moves but the draw is the prior's noise."""
    return mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)


def load_latents(folder: Path) -> list[LatentEpisode]:
    """All encoded episodes in `folder` (a run's latents/), in index order."""
    episodes = []
    for path in sorted(Path(folder).glob("ep_*.npz")):
        with np.load(path, allow_pickle=False) as d:
            episodes.append(LatentEpisode(d["mu"], d["logvar"], d["actions"], d["rewards"], d["terminated"]))
    if not episodes:
        raise FileNotFoundError(f"{folder}: no encoded episodes; run the encode stage first")
    return episodes
