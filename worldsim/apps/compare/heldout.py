"""Which real frames the comparison measures on: clips from the episodes GameGAN training holds out
(split_episodes with gamegan.val_fraction and the run's seed), spread over episodes and over time
within them, and how many of those episodes V+M may have trained on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldsim.config import Config
from worldsim.data.clips import ClipPool
from worldsim.data.episodes import iter_valid_episodes, list_episodes, split_episodes
from worldsim.run import RunDir, RunDirError


@dataclass
class HeldOut:
    frames: torch.Tensor  # (n, T+1, 3, 64, 64) uint8
    actions: torch.Tensor  # (n, T)
    val_paths: list[Path]
    train_paths: list[Path]


def heldout_clips(run: RunDir, cfg: Config, clips: int, horizon: int, seed: int = 0) -> HeldOut:
    """`clips` clips of horizon+1 frames from the episodes GameGAN training holds out: episodes
    spread evenly over the held-out ones (all of them, in turn, when there are fewer than
    `clips`), each clip at a random start (seeded) within its episode, so that clips are not all
    episode openings."""
    paths = list_episodes(run.episodes)
    if not paths:
        raise RunDirError(f"{run.root} has no recorded episodes")
    train, val = split_episodes(paths, cfg.gamegan.val_fraction, cfg.seed)
    eligible = [p for p, ep in iter_valid_episodes(val, ("actions",)) if len(ep.actions) >= horizon]
    if not eligible:
        raise ValueError(f"no held-out episode has {horizon} transitions for a clip; lower --horizon")
    if clips <= len(eligible):
        chosen = [eligible[i] for i in spread(len(eligible), clips)]
    else:
        chosen = [eligible[i % len(eligible)] for i in range(clips)]
    need = sorted(set(chosen))
    pool = ClipPool.load(need, horizon)
    index = {p: i for i, p in enumerate(need)}
    rng = np.random.default_rng(seed)
    picked = [pool.clip(index[p], int(rng.integers(0, pool.starts[index[p]]))) for p in chosen]
    frames = torch.as_tensor(np.stack([f for f, _ in picked])).permute(0, 1, 4, 2, 3).contiguous()
    return HeldOut(frames, torch.as_tensor(np.stack([a for _, a in picked])), val, train)


def heldout_overlap(run: RunDir, cfg: Config, val_paths: list[Path]) -> dict:
    """How many held-out episodes V's and M's splits put in their training sets: V+M may have
    trained on those, GameGAN never did. Computed from the run's current episodes: exact for M's
    last training (iterate rounds re-split, so earlier rounds may have seen more: a lower bound),
    and for V only when no iterate round has added episodes since V was trained (else None)."""
    held = {p.name for p in val_paths}
    latents = sorted(p.name for p in run.latents.glob("ep_*.npz"))
    m_train, _ = split_episodes(latents, cfg.mdnrnn.val_fraction, cfg.seed) if len(latents) > 1 else ([], [])
    iterated = any(name.startswith("iterate_") for name in run.report().get("stages", {}))
    v_train = None
    if not iterated:
        v_train, _ = split_episodes(list_episodes(run.episodes), cfg.vae.val_fraction, cfg.seed)
    return {"heldout_episodes": len(held),
            "in_vae_train_split": None if v_train is None else len(held & {p.name for p in v_train}),
            "in_mdnrnn_train_split_at_least": len(held & set(m_train))}


def spread(n: int, k: int) -> list[int]:
    """Up to k indices spread evenly over range(n)."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n))}) if n else []
