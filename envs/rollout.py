"""The one loop that plays episodes, in real games and in dreams alike.

Both worlds offer the same batched shape (`Games`): `num_envs` rows; `reset(mask, seeds)` starts
new episodes in the rows where mask is True (all rows when None) and returns every row's
observation; `step(actions)` advances every row and returns (obs, reward, terminated, truncated),
one entry per row. The real games (envs.runner.RealGames, game processes) return numpy arrays,
the dreams (worldsim.dream) torch tensors; the loop only counts, so either works. A dream may also
offer `keep(mask)` to drop rows whose episodes are over.

A `Policy` maps a batch of observations to a batch of actions (`act`) and is told which rows
began a new episode (`reset`); one that draws randomness per episode may also take each new
episode's game seed (`start_episodes(rows, seeds)`), so an episode plays the same on any machine. `rollout` plays a number of episodes (by default one per row, or
one per seed) or a number of steps, refilling a row with the next episode as soon as its episode
ends; CMA-ES, evaluation, collection, the fidelity benchmark, the comparison's real-game paths and
the headless play videos all play through it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm


class Policy(Protocol):
    """What plays a batch of games, real or dreamed: one action per row from the rows'
    observations (`act`: numpy frames in a real game, a dream's [z, h] tensor in a dream), and told
    which rows began a new episode (`reset`, a numpy bool mask). A policy that keeps the score
    (agents.latent.LatentController for a score-reading M) may also have `rewarded(rewards)`: the
    loop then tells it each step's rewards (numpy, one per row) before finished rows restart."""

    def act(self, obs: Any) -> Any: ...

    def reset(self, mask: np.ndarray) -> None: ...


class Games(Protocol):
    """A batch of games stepped together (see the module's docstring)."""

    num_envs: int

    def reset(self, mask: np.ndarray | None = None, seeds: Sequence[int | None] | None = None) -> Any: ...

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any]: ...


@dataclass
class EpisodeResult:
    index: int
    """position of the episode among those the rollout played (in `seeds` when given)"""
    seed: int | None = None
    """the seed the game was reset with (None in a dream, which draws from its own stream)"""
    total_reward: float = 0.0
    lost: float = 0.0
    """the episode's negative rewards summed, as a positive number (Pong: the points lost)"""
    steps: int = 0
    terminated: bool = False
    """the game ended the episode (rather than a time limit or the rollout's max_steps)"""
    trajectory: dict[str, list] | None = field(default=None, repr=False)
    """with record=True: obs (steps+1, the first one included) as "frames", actions, rewards,
    terminated, truncated"""

    @property
    def won(self) -> float:
        """the episode's positive rewards summed (Pong: the points won)"""
        return self.total_reward + self.lost


@dataclass
class Rollout:
    episodes: list[EpisodeResult]
    """the episodes that ended, in index order"""
    unfinished: list[EpisodeResult]
    """with `steps`: the episodes still running when the steps ran out"""

    @property
    def returns(self) -> np.ndarray:
        """(episodes,) total reward of each ended episode"""
        return np.array([e.total_reward for e in self.episodes])

    @property
    def lost(self) -> np.ndarray:
        """(episodes,) negative rewards of each ended episode summed, as positive numbers"""
        return np.array([e.lost for e in self.episodes])

    @property
    def won(self) -> np.ndarray:
        """(episodes,) positive rewards of each ended episode summed"""
        return np.array([e.won for e in self.episodes])

    @property
    def steps(self) -> np.ndarray:
        """(episodes,) steps each ended episode lasted"""
        return np.array([e.steps for e in self.episodes], dtype=np.int64)

    @property
    def ended(self) -> np.ndarray:
        """(episodes,) bool: the game ended the episode (terminated) rather than a step cap"""
        return np.array([e.terminated for e in self.episodes], dtype=bool)


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (on any device) or array-like as a numpy array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def rollout(games: Games, policy: Policy, episodes: int | None = None, *, seeds: Sequence[int] | None = None,
            steps: int | None = None, max_steps: int = 0, record: bool = False,
            on_step: Callable[[Any, Any, Any, Any, Any], None] | None = None,
            on_episode: Callable[[EpisodeResult], None] | None = None, progress: str | None = None) -> Rollout:
    """Play `episodes` episodes (one per seed with `seeds`; one per row by default; without end
    with `steps` alone) in `games`, `policy` acting, stopping after `steps` steps when given.
    Each row plays one episode after another; a row with none left idles (a real game resets it
    seedless so no finished game is stepped). Episodes longer than `max_steps` (when set) are cut
    and marked truncated. When no episode is left to start and fewer than half of the rows still
    play, rows leave the batch if both games and policy can drop them (`keep`).

    record: keep each episode's observations, actions, rewards and end flags (EpisodeResult.trajectory).
    on_step(obs, actions, reward, terminated, truncated): called after every step, before rows restart.
    on_episode(result): called as each episode ends (its trajectory is dropped afterwards)."""
    if seeds is not None:
        if episodes is not None and episodes != len(seeds):
            raise ValueError(f"{episodes} episodes but {len(seeds)} seeds")
        episodes = len(seeds)
    if episodes is None and steps is None:
        episodes = games.num_envs
    limit = np.inf if episodes is None else episodes
    n = games.num_envs
    episode_of = np.full(n, -1)  # (rows,) index of the episode each row plays, -1 when idle
    started = 0
    running: dict[int, EpisodeResult] = {}
    finished: list[EpisodeResult] = []

    def begin(mask: np.ndarray) -> list[int | None] | None:
        nonlocal started
        for row in np.flatnonzero(mask):
            if started < limit:
                episode_of[row] = started
                running[started] = EpisodeResult(started, None if seeds is None else int(seeds[started]),
                                                 trajectory=_empty_trajectory() if record else None)
                started += 1
            else:
                episode_of[row] = -1
        if seeds is None:
            return None
        return [running[e].seed if mask[row] and e >= 0 else None for row, e in enumerate(episode_of)]

    def record_first(obs: Any, mask: np.ndarray) -> None:
        if record:
            frames = to_numpy(obs)
            for row in np.flatnonzero(mask & (episode_of >= 0)):
                running[episode_of[row]].trajectory["frames"].append(frames[row])

    def start(mask: np.ndarray, row_seeds: list[int | None] | None) -> None:
        policy.reset(mask)
        if row_seeds is not None and hasattr(policy, "start_episodes"):
            rows = np.flatnonzero(mask)
            policy.start_episodes(rows, [row_seeds[row] for row in rows])

    everything = np.ones(n, dtype=bool)
    first_seeds = begin(everything)
    obs = games.reset(None, first_seeds)
    start(everything, first_seeds)
    record_first(obs, everything)
    compact = hasattr(games, "keep") and hasattr(policy, "keep")
    counts_points = hasattr(policy, "rewarded")
    total = lost = None  # (rows,) reward and negative reward of each row's episode so far, in the games' reward dtype
    count = np.zeros(n, dtype=np.int64)  # (rows,) steps of each row's episode so far
    taken = 0
    with tqdm(total=None if episodes is None else episodes, desc=progress, unit="ep",
              disable=progress is None) as bar:
        while (episode_of >= 0).any() and (steps is None or taken < steps):
            actions = policy.act(obs)
            obs, reward, terminated, truncated = games.step(actions)
            taken += 1
            if on_step is not None:
                on_step(obs, actions, reward, terminated, truncated)
            reward, terminated, truncated = to_numpy(reward), to_numpy(terminated), to_numpy(truncated)
            if counts_points:
                policy.rewarded(reward)
            if total is None:
                total, lost = np.zeros(n, dtype=reward.dtype), np.zeros(n, dtype=reward.dtype)
            live = episode_of >= 0
            total += reward * live
            lost -= np.minimum(reward, 0) * live
            count += live
            cut = live & (count >= max_steps) & ~terminated if max_steps else np.zeros_like(live)
            done = live & (terminated | truncated | cut)
            if record:
                frames, acted = to_numpy(obs), to_numpy(actions)
                for row in np.flatnonzero(live):
                    trajectory = running[episode_of[row]].trajectory
                    for key, value in (("frames", frames[row]), ("actions", acted[row]), ("rewards", reward[row]),
                                       ("terminated", terminated[row]), ("truncated", truncated[row] or cut[row])):
                        trajectory[key].append(value)
            for row in np.flatnonzero(done):
                result = running.pop(episode_of[row])
                result.total_reward, result.lost, result.steps = float(total[row]), float(lost[row]), int(count[row])
                result.terminated = bool(terminated[row])
                finished.append(result)
                if on_episode is not None:
                    on_episode(result)
                result.trajectory = None  # handed to on_episode; don't hold every frame in memory
                bar.update(1)
            if done.any():
                total[done], lost[done], count[done] = 0, 0, 0
                restart_seeds = begin(done)
                restart = done & (episode_of >= 0)
                if restart.any():
                    obs = games.reset(restart, restart_seeds)
                    start(restart, restart_seeds)
                    record_first(obs, restart)
            live = episode_of >= 0
            if compact and started >= limit and live.any() and live.mean() < 0.5:
                games.keep(live)
                policy.keep(live)
                obs, episode_of, count = obs[_like(obs, live)], episode_of[live], count[live]
                total, lost = total[live], lost[live]
                n = len(episode_of)
    unfinished = []
    for row in np.flatnonzero(episode_of >= 0):
        result = running[episode_of[row]]
        result.total_reward, result.steps = float(total[row]) if total is not None else 0.0, int(count[row])
        result.lost = float(lost[row]) if total is not None else 0.0
        unfinished.append(result)
    return Rollout(sorted(finished, key=lambda r: r.index), unfinished)


def _empty_trajectory() -> dict[str, list]:
    return {"frames": [], "actions": [], "rewards": [], "terminated": [], "truncated": []}


def _like(obs: Any, mask: np.ndarray) -> Any:
    """mask as an index for obs: a torch bool tensor on obs's device for a tensor."""
    if hasattr(obs, "device"):
        import torch

        return torch.as_tensor(mask, device=obs.device)
    return mask
