"""Frame streams for training V without holding the dataset in memory: episodes are read a few
at a time into a shuffle buffer, and batches are drawn from that buffer."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from worldsim.data.episodes import iter_valid_episodes


def split_episodes(paths: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Hold out whole episodes (never frames of a training episode) for validation."""
    if len(paths) < 2:
        raise ValueError(f"need at least 2 episodes to hold one out, found {len(paths)}")
    order = np.random.default_rng(seed).permutation(len(paths))
    n_val = min(len(paths) - 1, max(1, round(len(paths) * val_fraction)))
    val = sorted(paths[i] for i in order[:n_val])
    train = sorted(paths[i] for i in order[n_val:])
    return train, val


def iter_frame_batches(
    paths: list[Path], batch_size: int, buffer_episodes: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """One pass over every frame of `paths` in shuffled batches of (batch, 64, 64, 3) uint8."""
    order = [paths[i] for i in rng.permutation(len(paths))]
    leftover = np.empty((0, 64, 64, 3), dtype=np.uint8)
    for start in range(0, len(order), buffer_episodes):
        chunk = [ep.frames for _, ep in iter_valid_episodes(order[start : start + buffer_episodes], ("frames", "actions"))]
        if not chunk:
            continue
        pool = np.concatenate([leftover, *chunk])
        pool = pool[rng.permutation(len(pool))]
        whole = len(pool) // batch_size * batch_size
        for b in range(0, whole, batch_size):
            yield pool[b : b + batch_size]
        leftover = pool[whole:]
    if len(leftover):
        yield leftover


def count_frames(paths: list[Path]) -> int:
    """Frames in `paths`, read from the small action arrays only."""
    return sum(len(ep.actions) + 1 for _, ep in iter_valid_episodes(paths, ("actions",)))
