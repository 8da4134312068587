"""Does a model keep the game's small objects in open loop? For each tracked object (a colour
inside a box, e.g. Breakout's ball), on the same held-out clips as the open-loop scores: of the
real frames that show it, the share where the model draws it at all, the share where it draws it
within TOLERANCE_PX of the real centre, and the median distance where both show it. A model
can score well by PSNR while it drops the ball: the ball is a few pixels of the frame."""
from __future__ import annotations

import numpy as np
import torch

from worldsim.data.frames import object_centres, parse_object

TOLERANCE_PX = 4.0
"""'placed': the drawn object's centre within this many pixels (of the 64x64 frame) of the real one"""

WINDOWS = ((1, 1), (2, 8), (9, 16), (17, 32))
"""Open-loop steps pooled into one row each (first and last step, inclusive); steps beyond the
clips' horizon are left out."""


def _centres(frames: torch.Tensor, colour, box) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, T, 3, H, W) -> centres (n, T, 2) and seen (n, T)."""
    n, steps = frames.shape[:2]
    hwc = frames.flatten(0, 1).permute(0, 2, 3, 1).contiguous().numpy()
    centres, seen = object_centres(hwc, colour, box)
    return centres.reshape(n, steps, 2), seen.reshape(n, steps)


def object_keeping(generated: torch.Tensor, real: torch.Tensor, spec: str,
                   windows: tuple[tuple[int, int], ...] = WINDOWS) -> dict:
    """uint8 (n, T, 3, H, W) generated and real frames (step t of both is the same game step) ->
    for each window of steps (default WINDOWS) the real frames showing the object, and of them the share
    the model draws it ('drawn'), draws it within TOLERANCE_PX ('placed') and the median distance
    in pixels where both show it; plus the share of frames without it where the model draws one
    anyway ('invented')."""
    name, colour, box = parse_object(spec)
    if colour is None:
        raise ValueError(f"tracked object {spec!r}: give its colour (R,G,B), not 'any'")
    real_at, real_seen = _centres(real, colour, box)
    gen_at, gen_seen = _centres(generated, colour, box)
    distance = np.linalg.norm(gen_at - real_at, axis=-1)
    both = real_seen & gen_seen
    steps = real.shape[1]
    rows = {}
    for first, last in windows:
        if first > steps:
            break
        window = slice(first - 1, min(last, steps))
        shown = real_seen[:, window]
        count = int(shown.sum())
        pair = both[:, window]
        rows[f"{first}-{min(last, steps)}"] = {
            "real_frames_showing": count,
            "drawn": round(float(gen_seen[:, window][shown].mean()), 4) if count else float("nan"),
            "placed": round(float((pair & (distance[:, window] <= TOLERANCE_PX))[shown].mean()), 4) if count else float("nan"),
            "median_distance_px": round(float(np.median(distance[:, window][pair])), 2) if pair.any() else float("nan"),
        }
    absent = ~real_seen
    return {"name": name, "spec": spec, "tolerance_px": TOLERANCE_PX, "windows": rows,
            "invented": round(float(gen_seen[absent].mean()), 4) if absent.any() else float("nan")}
