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


def frame_centres(frames: torch.Tensor, colour, box) -> tuple[np.ndarray, np.ndarray]:
    """uint8 or [0, 1] float frames (..., 3, H, W) -> the mean (row, column) of the object's pixels
    (..., 2) and whether the frame shows it (...), by worldsim.data.frames.object_centres."""
    hwc = frames.flatten(0, -4).movedim(1, -1)
    if hwc.is_floating_point():
        hwc = (hwc.clamp(0, 1) * 255).round()
    centres, seen = object_centres(hwc.to(torch.uint8).cpu().numpy(), colour, box)
    lead = frames.shape[:-3]
    return centres.reshape(*lead, 2), seen.reshape(lead)


def tracked_object(spec: str) -> tuple[str, tuple[int, int, int], tuple[slice, slice] | None]:
    """NAME:R,G,B@ROWS,COLUMNS -> (name, colour, box); an object without a colour ('any') cannot be
    told from the rest of a generated frame, so it is refused."""
    name, colour, box = parse_object(spec)
    if colour is None:
        raise ValueError(f"tracked object {spec!r}: give its colour (R,G,B), not 'any'")
    return name, colour, box


class ObjectTrack:
    """One object's centres in the real frames (uint8 (n, T, 3, H, W)), found once; a model's frames
    for the same game steps are scored against them."""

    def __init__(self, real: torch.Tensor, spec: str):
        self.spec = spec
        self.name, self.colour, self.box = tracked_object(spec)
        self.real_at, self.real_seen = frame_centres(real, self.colour, self.box)

    def open_loop(self, generated: torch.Tensor, windows: tuple[tuple[int, int], ...] = WINDOWS) -> dict:
        """For each window of steps, the real frames showing the object, and of them the share the
        model draws it ('drawn'), draws it within TOLERANCE_PX ('placed') and the median distance
        in pixels where both show it; plus the share of frames without it where the model draws
        one anyway ('invented')."""
        distance, gen_seen, _ = self.against(generated)
        steps = self.real_seen.shape[1]
        rows = {f"{first}-{min(last, steps)}": self._row(distance, gen_seen, slice(first - 1, min(last, steps)))
                for first, last in windows if first <= steps}
        absent = ~self.real_seen
        return {"name": self.name, "spec": self.spec, "tolerance_px": TOLERANCE_PX, "windows": rows,
                "invented": round(float(gen_seen[absent].mean()), 4) if absent.any() else float("nan")}

    def every_step(self, generated: torch.Tensor) -> dict:
        """The same shares and distance pooled over all steps (e.g. each predicted from the real frame)."""
        distance, gen_seen, _ = self.against(generated)
        return self._row(distance, gen_seen, slice(None))

    def against(self, generated: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, T) distance in pixels from the real centre to where the model draws the object,
        whether it draws it, and where (n, T, 2) (row, column)."""
        gen_at, gen_seen = frame_centres(generated, self.colour, self.box)
        return np.linalg.norm(gen_at - self.real_at, axis=-1), gen_seen, gen_at

    def _row(self, distance: np.ndarray, gen_seen: np.ndarray, window: slice) -> dict:
        shown = self.real_seen[:, window]
        count = int(shown.sum())
        pair = shown & gen_seen[:, window]
        near = distance[:, window]
        return {"real_frames_showing": count,
                "drawn": round(float(gen_seen[:, window][shown].mean()), 4) if count else float("nan"),
                "placed": round(float((pair & (near <= TOLERANCE_PX))[shown].mean()), 4) if count else float("nan"),
                "median_distance_px": round(float(np.median(near[pair])), 2) if pair.any() else float("nan")}
