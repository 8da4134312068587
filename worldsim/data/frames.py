"""Frame streams for training V without holding the dataset in memory: episodes are read a few
at a time into a shuffle buffer, and batches are drawn from that buffer."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from worldsim.data.episodes import iter_valid_episodes

FOREGROUND_LEVELS = 30
"""A pixel is foreground where its three channels differ from the background's by more than this
many levels (of 255) in sum."""


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


BACKGROUND_FRAMES = 2000
"""Training frames whose median is a game's background (V's foreground weight and the encoders
that read the frame minus the background: vae.background_gain, gamegan.background_gain)."""


def background_frame(paths: list[Path], frames: int, rng: np.random.Generator) -> np.ndarray:
    """The game's background: the per-pixel median of up to `frames` frames drawn evenly from the
    episodes of `paths` (a fixed-camera game such as an Atari one; the median of a moving camera's
    frames is a blur). -> (64, 64, 3) uint8."""
    per_episode = max(1, -(-frames // max(1, len(paths))))
    picks = []
    for _, ep in iter_valid_episodes(paths, ("frames", "actions")):
        picks.append(ep.frames[rng.choice(len(ep.frames), size=min(per_episode, len(ep.frames)), replace=False)])
    if not picks:
        raise ValueError("no valid episodes to take a background frame from")
    return np.median(np.concatenate(picks)[:frames], axis=0).astype(np.uint8)


def foreground_mask(frames, background):
    """Where frames differ from the background: uint8 (n, H, W, 3) numpy frames and (H, W, 3)
    background -> bool (n, H, W); or float (n, 3, H, W) tensors in [0, 1] -> bool (n, 1, H, W)."""
    if isinstance(frames, np.ndarray):
        return np.abs(frames.astype(np.int16) - background.astype(np.int16)).sum(-1) > FOREGROUND_LEVELS
    return (frames - background).abs().sum(1, keepdim=True) > FOREGROUND_LEVELS / 255


def foreground_weights(x, background, weight: float):
    """Per-pixel weights for V's loss (vae.foreground_weight): `weight` where float frames x
    (n, 3, H, W) differ from the background (1, 3, H, W), 1 elsewhere. -> (n, 1, H, W)."""
    return 1.0 + (weight - 1.0) * foreground_mask(x, background).float()


COLOUR_TOLERANCE = 40
"""A pixel shows an object where each channel is within this of the object's colour (resizing blends edges)."""


def parse_object(spec: str) -> tuple[str, tuple[int, int, int] | None, tuple[slice, slice] | None]:
    """'NAME:R,G,B@R0-R1,C0-C1' (colour 'any': every foreground pixel; the box, inclusive rows and
    columns of the 64x64 frame, may be left out) -> (name, colour or None, (rows, columns) or None)."""
    name, sep, rest = spec.partition(":")
    colour, _, where = rest.partition("@")
    try:
        rgb = None if colour == "any" else tuple(int(c) for c in colour.split(","))
        box = None
        if where:
            (r0, r1), (c0, c1) = (tuple(int(v) for v in part.split("-")) for part in where.split(","))
            box = (slice(r0, r1 + 1), slice(c0, c1 + 1))
    except ValueError:
        rgb = ()
    if not sep or not name or (rgb is not None and len(rgb) != 3):
        raise ValueError(f"object {spec!r}: expected NAME:R,G,B@R0-R1,C0-C1 (or NAME:any@...), "
                         "e.g. player:92,186,92@10-58,52-63")
    return name, rgb, box


def object_mask(frames: np.ndarray, colour: tuple[int, int, int] | None, box: tuple[slice, slice] | None = None,
                background: np.ndarray | None = None) -> np.ndarray:
    """uint8 (n, H, W, 3) frames -> bool (n, H, W): the pixels of `colour` (None: foreground against
    `background`, (H, W, 3) or one colour per frame (n, 1, 1, 3)) inside `box` (rows, columns)."""
    if colour is None:
        near = foreground_mask(frames, background)
    else:
        near = (np.abs(frames.astype(np.int16) - np.array(colour, dtype=np.int16)) <= COLOUR_TOLERANCE).all(-1)
    if box is not None:
        inside = np.zeros(near.shape[1:], dtype=bool)
        inside[box] = True
        near = near & inside
    return near


def object_centres(frames: np.ndarray, colour: tuple[int, int, int] | None, box: tuple[slice, slice] | None = None,
                   background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, H, W, 3) frames -> (n, 2) mean (row, column) of the object's pixels (object_mask)
    in each frame, and (n,) whether any shows."""
    near = object_mask(frames, colour, box, background)
    rows, cols = np.arange(frames.shape[1]), np.arange(frames.shape[2])
    count = near.sum(axis=(1, 2))
    seen = count > 0
    centres = np.zeros((len(frames), 2))
    centres[seen, 0] = (near.sum(2) @ rows)[seen] / count[seen]
    centres[seen, 1] = (near.sum(1) @ cols)[seen] / count[seen]
    return centres, seen
