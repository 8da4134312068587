"""A synthetic game with a known answer, for checking that a world model reads its frame and
follows its action: a white square on black that the actions move left, not at all, or right;
optionally with a small red ball that moves on its own and bounces off the borders (Breakout's
ball in miniature: a few pixels that no action moves)."""
from __future__ import annotations

import numpy as np

SIDE, MOVE = 12, 4
"""the square's side and how far one action moves it, in pixels of the 64x64 frame"""
BALL, BALL_SPEEDS = 3, (-3, -2, 2, 3)
"""the ball's side, and its speeds per step along each axis (drawn once per clip), in pixels"""

TINY_GAMEGAN = dict(channels=8, d_channels=8, hidden=128, noise_dim=4, action_embed=8, memory=False, skip=False,
                    renderer="simple", clip_len=4, batch_size=16, warm_up=2, warm_up_floor=1)
"""GameGANConfig fields of the tiny generator that learns this game in a few hundred steps
(benchmarks/gamegan_moving_square.py, tests/test_gamegan.py)."""


def moving_square_clips(n: int, steps: int, rng: np.random.Generator,
                        ball: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n clips of `steps` transitions from random starts: frames (n, steps + 1, 64, 64, 3) uint8
    (as episodes store them) and actions (n, steps) int64, 0 left, 1 stay, 2 right. The square
    stops at the border. ball: a red (255, 0, 0) BALL x BALL ball is drawn over it, moving by its
    clip's speeds and bouncing off the borders (its pixels: `ball_pixels`)."""
    frames = np.zeros((n, steps + 1, 64, 64, 3), np.uint8)
    actions = rng.integers(0, 3, (n, steps))
    x, y = rng.integers(8, 44, n), rng.integers(8, 44, n)
    where = ball_positions(n, steps, rng) if ball else None
    for t in range(steps + 1):
        for i in range(n):
            frames[i, t, y[i]:y[i] + SIDE, x[i]:x[i] + SIDE] = 255
            if ball:
                bx, by = where[i, t]
                frames[i, t, by:by + BALL, bx:bx + BALL] = (255, 0, 0)
        if t < steps:
            x = np.clip(x + (actions[:, t] - 1) * MOVE, 0, 64 - SIDE)
    return frames, actions


def ball_positions(n: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """(n, steps + 1, 2) int: the ball's top-left corner (column, row) at each frame, from a random
    start and speeds, reflected at the borders."""
    top = 64 - BALL
    position = rng.integers(0, top + 1, (n, 2))
    speed = rng.choice(BALL_SPEEDS, (n, 2))
    out = np.empty((n, steps + 1, 2), np.int64)
    for t in range(steps + 1):
        out[:, t] = position
        position = position + speed
        low, high = position < 0, position > top
        position = np.where(low, -position, np.where(high, 2 * top - position, position))
        speed = np.where(low | high, -speed, speed)
    return out


def ball_pixels(frames: np.ndarray) -> np.ndarray:
    """Where frames (..., 64, 64, 3) uint8 or (..., 3, 64, 64) float in [0, 1] show the ball's
    red: (..., 64, 64) bool (red above half, green below)."""
    if frames.dtype == np.uint8:
        red, green = frames[..., 0] / 255.0, frames[..., 1] / 255.0
    else:
        red, green = frames[..., 0, :, :], frames[..., 1, :, :]
    return (red > 0.5) & (green < 0.5)
