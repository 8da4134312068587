"""Play whole episodes of a real game in parallel processes (a gymnasium vector env with
autoreset off): each episode gets its own seed, each slot is refilled with the next episode
as soon as one ends. Data collection and transfer evaluation both run on this."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from tqdm.auto import tqdm

from envs import make


@dataclass
class EpisodeResult:
    index: int
    """position of the episode in the `seeds` list"""
    seed: int
    total_reward: float = 0.0
    steps: int = 0
    terminated: bool = False
    trajectory: dict[str, list] | None = field(default=None, repr=False)
    """with record=True: frames (steps+1), actions, rewards, terminated, truncated"""


def slot_count(workers: int, episodes: int) -> int:
    """Game processes for `episodes` episodes: `workers`, or one per CPU core when 0, never more
    than there are episodes. A policy that keeps per-process state must be built this wide."""
    return min(workers or os.cpu_count() or 1, episodes)


def make_vector_env(env_name: str, num_envs: int, evaluation: bool = False) -> gym.vector.VectorEnv:
    factories = [functools.partial(make, env_name, evaluation=evaluation)] * num_envs
    if num_envs == 1:
        return SyncVectorEnv(factories, autoreset_mode=AutoresetMode.DISABLED)
    return AsyncVectorEnv(factories, autoreset_mode=AutoresetMode.DISABLED, context="spawn")


class Policy(Protocol):
    """What plays a batch of games, real or dreamed: one action per row from the rows'
    observations (`act`: numpy frames here, a dream's [z, h] tensor in agents.rollout), and told
    which rows began a new episode (`reset`)."""

    def act(self, obs: Any) -> Any: ...

    def reset(self, mask: Any) -> None: ...


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
    """Play one episode per seed. `policy.act(obs)` maps the batch of current observations (one row
    per slot) to a batch of actions; `policy.reset(mask)` is told which slots just began a new
    episode. Episodes longer than `max_steps` (when set) are cut and marked truncated.
    evaluation: the games set up as agents are scored (envs.make), not as play is recorded."""
    num_envs = slot_count(workers, len(seeds))
    if num_envs == 0:
        return []
    queue = iter(range(len(seeds)))
    slots: list[EpisodeResult | None] = [_start(i, seeds, record) for i in (next(queue) for _ in range(num_envs))]
    results: list[EpisodeResult] = []
    vec = make_vector_env(env_name, num_envs, evaluation)
    try:
        obs, _ = vec.reset(seed=[s.seed for s in slots])
        policy.reset(np.ones(num_envs, dtype=bool))
        _record_first(slots, obs, np.ones(num_envs, dtype=bool))
        with tqdm(total=len(seeds), desc=progress, unit="ep", disable=progress is None) as bar:
            while any(s is not None for s in slots):
                actions = policy.act(obs)
                obs, rewards, terminated, truncated, _ = vec.step(actions)
                restart = terminated | truncated
                for k, slot in enumerate(slots):
                    if slot is None:
                        continue
                    slot.steps += 1
                    slot.total_reward += float(rewards[k])
                    cut = bool(max_steps) and slot.steps >= max_steps and not terminated[k]
                    if slot.trajectory is not None:
                        for key, value in (("frames", obs[k]), ("actions", actions[k]), ("rewards", rewards[k]),
                                           ("terminated", terminated[k]), ("truncated", truncated[k] or cut)):
                            slot.trajectory[key].append(value)
                    if terminated[k] or truncated[k] or cut:
                        slot.terminated = bool(terminated[k])
                        results.append(slot)
                        if on_episode is not None:
                            on_episode(slot)
                        if slot.trajectory is not None:
                            slot.trajectory = None  # saved by on_episode; don't hold every frame in memory
                        slots[k] = _start(next(queue, None), seeds, record)
                        restart[k] = True
                        bar.update(1)
                if restart.any():
                    # idle slots are reset too (seed None) so no finished game is ever stepped
                    obs, _ = vec.reset(seed=[s.seed if s else None for s in slots], options={"reset_mask": restart})
                    policy.reset(restart)
                    _record_first(slots, obs, restart)
    finally:
        vec.close()
    return sorted(results, key=lambda r: r.index)


def _start(index: int | None, seeds: Sequence[int], record: bool) -> EpisodeResult | None:
    if index is None:
        return None
    trajectory = {"frames": [], "actions": [], "rewards": [], "terminated": [], "truncated": []} if record else None
    return EpisodeResult(index=index, seed=int(seeds[index]), trajectory=trajectory)


def _record_first(slots: list[EpisodeResult | None], obs: np.ndarray, mask: np.ndarray) -> None:
    for k in np.flatnonzero(mask):
        if slots[k] is not None and slots[k].trajectory is not None:
            slots[k].trajectory["frames"].append(obs[k])
