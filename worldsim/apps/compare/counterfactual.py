"""The counterfactual action check: from the same start frame, k steps of "left" against k steps
of "right". A model that follows its actions turns the view opposite ways, as the real game does
from the same state. The view's turn is measured as the horizontal displacement that best aligns
the frame after k steps with the start frame; in a fixed-camera game (Atari) the actions move an
object instead, measured as the move of that object's centre (object_turn)."""
from __future__ import annotations

import numpy as np
import torch

from worldsim.apps.compare.objects import frame_centres

MAX_SHIFT = 16
"""largest displacement searched, in pixels of the 64-pixel-wide frame"""


def horizontal_shift(start: torch.Tensor, later: torch.Tensor, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """uint8 or float frames (k, 3, H, W) -> (k,) the displacement dx in pixels (positive: the
    picture moved right) for which later[..., x + dx] best matches start[..., x], by mean squared
    error over the columns the two share; whole pixels from -max_shift to max_shift."""
    a, b = start.float(), later.float()
    width = a.shape[-1]
    errors = []
    for dx in range(-max_shift, max_shift + 1):
        if dx >= 0:
            e = (a[..., : width - dx] - b[..., dx:]).pow(2).mean(dim=(1, 2, 3))
        else:
            e = (a[..., -dx:] - b[..., : width + dx]).pow(2).mean(dim=(1, 2, 3))
        errors.append(e)
    return (torch.stack(errors, dim=1).argmin(dim=1) - max_shift).cpu().numpy().astype(float)


def turn(start: torch.Tensor, after_left: torch.Tensor, after_right: torch.Tensor) -> np.ndarray:
    """(k,) how far apart k steps of right and of left leave the view: shift(right) - shift(left)."""
    return horizontal_shift(start, after_right) - horizontal_shift(start, after_left)


AXES = {"rows": 0, "columns": 1}
"""The coordinate of an object's centre that object_turn reads: Pong's paddles move along rows,
Breakout's along columns."""


def object_turn(after_left: torch.Tensor, after_right: torch.Tensor, colour: tuple[int, int, int],
                box: tuple[slice, slice] | None, axis: str) -> np.ndarray:
    """uint8 or [0, 1] float frames (k, 3, H, W) -> (k,) how far apart k steps of right and of left
    leave the object of `colour` inside `box`: its centre's `axis` coordinate after right minus
    after left, in pixels (NaN where either frame does not show it)."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {', '.join(AXES)}, not {axis!r}")
    where = []
    for frames in (after_left, after_right):
        centres, seen = frame_centres(frames, colour, box)
        where.append(np.where(seen, centres[:, AXES[axis]], np.nan))
    return where[1] - where[0]


def judge(model_turns: np.ndarray, real_turns: np.ndarray) -> dict:
    """A model's turns against the real game's: the share of starts turned the real game's way,
    and the median turn size against the real game's median (starts measured as NaN, where the
    tracked object was not drawn, are left out and counted)."""
    missing = int(np.isnan(model_turns).sum())
    model_turns, real_turns = model_turns[~np.isnan(model_turns)], real_turns[~np.isnan(real_turns)]
    real_sign = float(np.sign(np.median(real_turns))) if len(real_turns) else 0.0
    real_size = float(np.median(np.abs(real_turns))) if len(real_turns) else float("nan")
    size = float(np.median(np.abs(model_turns))) if len(model_turns) else float("nan")
    agree = float(np.mean(np.sign(model_turns) == real_sign)) if real_sign and len(model_turns) else float("nan")
    return {"right_way": round(agree, 4),
            "median_turn_px": round(size, 2),
            "turn_over_real": round(size / real_size, 4) if real_size else float("nan"),
            "starts": int(len(model_turns)), **({"starts_without_the_object": missing} if missing else {})}
