"""The counterfactual action check: from the same start frame, k steps of "left" against k steps
of "right". A model that follows its actions turns the view opposite ways, as the real game does
from the same state. The view's turn is measured as the horizontal displacement that best aligns
the frame after k steps with the start frame."""
from __future__ import annotations

import numpy as np
import torch

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


def judge(model_turns: np.ndarray, real_turns: np.ndarray) -> dict:
    """A model's turns against the real game's: the share of starts turned the real game's way,
    and the median turn size against the real game's median."""
    real_sign = float(np.sign(np.median(real_turns))) if len(real_turns) else 0.0
    real_size = float(np.median(np.abs(real_turns))) if len(real_turns) else float("nan")
    size = float(np.median(np.abs(model_turns)))
    return {"right_way": round(float(np.mean(np.sign(model_turns) == real_sign)) if real_sign else float("nan"), 4),
            "median_turn_px": round(size, 2),
            "turn_over_real": round(size / real_size, 4) if real_size else float("nan"),
            "starts": int(len(model_turns))}
