"""Clips of consecutive (frame, action) pairs for training GameGAN: a clip of T transitions is
frames x_0..x_T (T+1, 64, 64, 3) uint8 and actions a_0..a_{T-1}. Episodes are read a bounded
number at a time into a pool that clips are drawn from; episodes shorter than T transitions
hold no whole clip and are skipped (never padded: a padded tail would teach the model that
the game freezes). A share of the clips (end_bias) can be made to end where the game ended an
episode (a death), and a share (start_bias) to start at an episode's first frame (where the game
begins: Breakout's serve), both of which uniform starts rarely reach."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from worldsim.data.episodes import iter_valid_episodes


@dataclass
class ClipPool:
    """Episodes long enough for a clip, held in memory."""

    frames: list[np.ndarray]  # per episode (steps+1, 64, 64, 3) uint8
    actions: list[np.ndarray]  # per episode (steps,) int or (steps, action_dim) float
    clip_len: int
    ended: np.ndarray | None = None  # (episodes,) bool: the game ended the episode (its last step terminated)

    @classmethod
    def load(cls, paths: list[Path], clip_len: int) -> "ClipPool":
        frames, actions, ended = [], [], []
        for _, ep in iter_valid_episodes(paths, ("frames", "actions", "terminated")):
            if len(ep.actions) >= clip_len:
                frames.append(ep.frames)
                actions.append(ep.actions)
                ended.append(bool(ep.terminated[-1]))
        return cls(frames, actions, clip_len, np.array(ended, dtype=bool))

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def starts(self) -> np.ndarray:
        """Number of clip start positions in each episode."""
        return np.array([len(a) - self.clip_len + 1 for a in self.actions])

    def clip(self, episode: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        end = start + self.clip_len
        return self.frames[episode][start : end + 1], self.actions[episode][start:end]

    def sample(self, rng: np.random.Generator, batch: int, end_bias: float = 0.0,
               start_bias: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """`batch` clips, every start position equally likely -> frames (batch, T+1, 64, 64, 3)
        uint8, actions (batch, T, ...); each clip instead ends at the end of an episode the game
        ended with probability `end_bias` (when the pool has such episodes), and each clip not
        so moved starts at its episode's first frame with probability `start_bias`."""
        starts = self.starts
        episodes = rng.choice(len(self), size=batch, p=starts / starts.sum())
        offsets = (rng.random(batch) * starts[episodes]).astype(int)
        ended = np.flatnonzero(self.ended) if self.ended is not None else np.zeros(0, dtype=int)
        if end_bias > 0 and len(ended):
            at_end = rng.random(batch) < end_bias
            episodes[at_end] = rng.choice(ended, size=int(at_end.sum()))
            offsets[at_end] = starts[episodes[at_end]] - 1
        else:
            at_end = np.zeros(batch, dtype=bool)
        if start_bias > 0:
            offsets[~at_end & (rng.random(batch) < start_bias)] = 0
        clips = [self.clip(e, o) for e, o in zip(episodes, offsets)]
        return np.stack([f for f, _ in clips]), np.stack([a for _, a in clips])


def iter_clip_batches(paths: list[Path], batch_size: int, clip_len: int, buffer_episodes: int,
                      rng: np.random.Generator, end_bias: float = 0.0,
                      start_bias: float = 0.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless batches of clips: shuffled passes over `paths`, `buffer_episodes` at a time; each
    pool yields about one pass over its transitions before the next is loaded (ClipPool.sample
    for end_bias and start_bias)."""
    while True:
        order = [paths[i] for i in rng.permutation(len(paths))]
        found = False
        for start in range(0, len(order), buffer_episodes):
            pool = ClipPool.load(order[start : start + buffer_episodes], clip_len)
            if not len(pool):
                continue
            found = True
            transitions = sum(len(a) for a in pool.actions)
            for _ in range(max(1, transitions // (clip_len * batch_size))):
                yield pool.sample(rng, batch_size, end_bias, start_bias)
        if not found:
            raise ValueError(f"no episode has {clip_len} transitions for a clip; lower --gamegan.clip_len")


def fixed_clips(paths: list[Path], clip_len: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `count` clips spread evenly over the episodes and over each episode's length, the
    same every time (for comparable held-out errors) -> frames (n, T+1, 64, 64, 3), actions (n, T, ...)."""
    pool = ClipPool.load(paths, clip_len)
    if not len(pool):
        raise ValueError(f"no held-out episode has {clip_len} transitions for a clip; lower --gamegan.clip_len")
    per_episode = -(-count // len(pool))
    picks = [(e, int(o)) for e, n in enumerate(pool.starts)
             for o in np.unique(np.linspace(0, n - 1, per_episode).astype(int))]
    clips = [pool.clip(e, o) for e, o in picks[:count]]
    return np.stack([f for f, _ in clips]), np.stack([a for _, a in clips])
