"""A synthetic game with a known answer, for checking that a world model reads its frame and
follows its action: a white square on black that the actions move left, not at all, or right."""
from __future__ import annotations

import numpy as np

SIDE, MOVE = 12, 4
"""the square's side and how far one action moves it, in pixels of the 64x64 frame"""

TINY_GAMEGAN = dict(channels=8, d_channels=8, hidden=128, noise_dim=4, action_embed=8, memory=False, skip=False,
                    renderer="simple", clip_len=4, batch_size=16, warm_up=2, warm_up_floor=1)
"""GameGANConfig fields of the tiny generator that learns this game in a few hundred steps
(benchmarks/gamegan_moving_square.py, tests/test_gamegan.py)."""


def moving_square_clips(n: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n clips of `steps` transitions from random starts: frames (n, steps + 1, 64, 64, 3) uint8
    (as episodes store them) and actions (n, steps) int64, 0 left, 1 stay, 2 right. The square
    stops at the border."""
    frames = np.zeros((n, steps + 1, 64, 64, 3), np.uint8)
    actions = rng.integers(0, 3, (n, steps))
    x, y = rng.integers(8, 44, n), rng.integers(8, 44, n)
    for t in range(steps + 1):
        for i in range(n):
            frames[i, t, y[i]:y[i] + SIDE, x[i]:x[i] + SIDE] = 255
        if t < steps:
            x = np.clip(x + (actions[:, t] - 1) * MOVE, 0, 64 - SIDE)
    return frames, actions
