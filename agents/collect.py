"""Record real-game play with an exploration policy, in parallel game processes, one
atomically written .npz per episode. Resuming records only the missing episodes."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

import envs
from agents.cluster import policy_seed, ray_episodes
from agents.exploration import make_exploration_policy
from envs.runner import EpisodeResult, run_episodes, slot_count
from worldsim.data.episodes import Episode, EpisodeError, episode_path, list_episodes, load_episode, save_episode
from worldsim.io import remove_stale_temporaries


def episode_seed(seed: int, index: int, stream: int = 0) -> int:
    """Each episode index gets its own game seed (stream 0) and policy seed (stream 1), so a
    resumed collection records new games, not repeats of the recorded ones."""
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1)[0])


def existing_episodes(folder: Path) -> set[int]:
    """Indices of readable episodes; damaged files are moved aside so they get recorded again."""
    done = set()
    for path in list_episodes(folder):
        try:
            load_episode(path, keys=("actions",))
        except EpisodeError as exc:
            warnings.warn(f"re-recording: {exc}", stacklevel=2)
            path.rename(path.with_suffix(".corrupt"))
            continue
        done.add(int(path.stem.split("_")[1]))
    return done


def collect(
    env_name: str,
    folder: str | Path,
    episodes: int,
    *,
    workers: int = 0,
    max_steps: int = 0,
    seed: int = 0,
    progress: bool = True,
    exploration: str = "",
    policy=None,
    ray_address: str = "",
) -> dict:
    """Make sure `folder` holds episodes 0..episodes-1; returns counts and speed of this call.
    They are played by the game's exploration policy named `exploration` ('': its default), or
    by `policy` (with act(frames) and reset(mask), one row per game process) where given, e.g.
    to record a trained controller's play. The exploration policy of each episode is seeded from
    the episode's game seed (agents.cluster.policy_seed), so an episode records the same play in
    any game process; with `ray_address` the episodes are played on that Ray cluster
    (agents.cluster), `workers` actors (0: one per CPU there); a given `policy` always plays here."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    todo = sorted(set(range(episodes)) - existing_episodes(folder))
    stats = {"episodes_recorded": 0, "frames_recorded": 0, "seconds": 0.0}
    if not todo:
        return stats
    num_envs = slot_count(workers, len(todo))
    info = envs.info(env_name)
    if policy is None:
        policy = EpisodeSeeded(lambda game_seed: make_exploration_policy(info, 1, policy_seed(game_seed), exploration),
                               num_envs)

    def save(result: EpisodeResult) -> None:
        save_episode(episode_path(folder, todo[result.index]), _to_episode(result.trajectory))
        stats["episodes_recorded"] += 1
        stats["frames_recorded"] += result.steps + 1

    start = time.perf_counter()
    seeds, label = [episode_seed(seed, i) for i in todo], f"collect {env_name}" if progress else None
    if ray_address and isinstance(policy, EpisodeSeeded):
        name = exploration or info.exploration_policies[0]
        ray_episodes(ray_address, env_name, seeds, lambda _i: {"kind": "exploration", "name": name}, workers=workers,
                     max_steps=max_steps, record=True, on_episode=save, progress=label)
    else:
        run_episodes(env_name, seeds, policy, workers=num_envs, max_steps=max_steps, record=True, on_episode=save,
                     progress=label)
    stats["seconds"] = time.perf_counter() - start
    return stats


class EpisodeSeeded:
    """One single-row policy per game process, made afresh for each episode from the episode's
    game seed (`make(game_seed)`), so what an episode plays does not depend on which process or
    machine plays it, nor on what the process played before."""

    def __init__(self, make, num_envs: int):
        self.make = make
        self.rows = [make(0) for _ in range(num_envs)]
        self.needs_frames = self.rows[0].needs_frames

    def start_episodes(self, rows, seeds) -> None:
        for row, game_seed in zip(rows, seeds):
            self.rows[row] = self.make(game_seed)

    def reset(self, mask: np.ndarray) -> None:
        """Each new episode gets a new policy (start_episodes); nothing to clear here."""

    def act(self, frames: np.ndarray) -> np.ndarray:
        return np.concatenate([policy.act(None if frames is None else frames[row : row + 1])
                               for row, policy in enumerate(self.rows)])


def _to_episode(trajectory: dict[str, list]) -> Episode:
    return Episode(
        frames=np.stack(trajectory["frames"]).astype(np.uint8),
        actions=np.asarray(trajectory["actions"]),
        rewards=np.asarray(trajectory["rewards"], dtype=np.float32),
        terminated=np.asarray(trajectory["terminated"], dtype=bool),
        truncated=np.asarray(trajectory["truncated"], dtype=bool),
    )
