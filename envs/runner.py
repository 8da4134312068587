"""Real games in parallel processes (a gymnasium vector env with autoreset off) in the batched
shape the dreams have (RealGames), and `run_episodes`: one episode per seed, played through the
one rollout loop (envs.rollout). Data collection, transfer evaluation, real-game CMA-ES and the
comparison's real paths run on this."""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from envs import make
from envs.rollout import EpisodeResult, Policy, rollout, to_numpy

__all__ = ["EpisodeResult", "Policy", "RealGames", "make_vector_env", "run_episodes", "slot_count"]


def slot_count(workers: int, episodes: int) -> int:
    """Game processes for `episodes` episodes: `workers`, or one per CPU core when 0, never more
    than there are episodes. A policy that keeps per-process state must be built this wide."""
    return min(workers or os.cpu_count() or 1, episodes)


def make_vector_env(env_name: str, num_envs: int, evaluation: bool = False) -> gym.vector.VectorEnv:
    factories = [functools.partial(make, env_name, evaluation=evaluation)] * num_envs
    if num_envs == 1:
        return SyncVectorEnv(factories, autoreset_mode=AutoresetMode.DISABLED)
    return AsyncVectorEnv(factories, autoreset_mode=AutoresetMode.DISABLED, context="spawn")


class RealGames:
    """`num_envs` real games in parallel processes with the dreams' batched shape
    (envs.rollout.Games): reset(mask, seeds) starts new episodes in the masked rows with their
    seeds; a row whose game ended and that was not restarted is reset seedless before the next
    step (it idles: nothing steps a finished game). A context manager: closing ends the processes."""

    def __init__(self, env_name: str, num_envs: int, evaluation: bool = False):
        self.num_envs = num_envs
        self.vec = make_vector_env(env_name, num_envs, evaluation)
        self._ended = np.zeros(num_envs, dtype=bool)  # (rows,) game over, not restarted yet

    def reset(self, mask: np.ndarray | None = None, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        seeds = list(seeds) if seeds is not None else [None] * self.num_envs
        if mask.all():
            self.obs, _ = self.vec.reset(seed=seeds)
        else:
            self.obs, _ = self.vec.reset(seed=seeds, options={"reset_mask": mask})
        self._ended &= ~mask
        return self.obs

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._ended.any():
            self.reset(self._ended)
        self.obs, reward, terminated, truncated, _ = self.vec.step(to_numpy(actions))
        self._ended = terminated | truncated
        return self.obs, reward, terminated, truncated

    def close(self) -> None:
        self.vec.close()

    def __enter__(self) -> "RealGames":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_episodes(
    env_name: str,
    seeds: Sequence[int],
    policy: Policy,
    *,
    workers: int = 0,
    max_steps: int = 0,
    record: bool = False,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    progress: str | None = None,
    evaluation: bool = False,
) -> list[EpisodeResult]:
    """Play one episode per seed in `workers` game processes (one per core when 0), each process
    refilled with the next seed as soon as its episode ends (envs.rollout.rollout); the results in
    seed order. evaluation: the games set up as agents are scored (envs.make), not as play is
    recorded."""
    num_envs = slot_count(workers, len(seeds))
    if num_envs == 0:
        return []
    with RealGames(env_name, num_envs, evaluation) as games:
        return rollout(games, policy, seeds=seeds, max_steps=max_steps, record=record, on_episode=on_episode,
                       progress=progress).episodes
