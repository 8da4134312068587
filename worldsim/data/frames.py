"""Frame streams for training V without holding the dataset in memory: episodes are read a few
at a time into a shuffle buffer, and batches are drawn from that buffer."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from worldsim.data.episodes import iter_valid_episodes


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
