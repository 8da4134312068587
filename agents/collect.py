"""Record real-game play with an exploration policy, in parallel game processes, one
atomically written .npz per episode. Resuming records only the missing episodes."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

import envs
from agents.cluster import ray_episodes
from agents.exploration import EpisodeSeeded
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
    the episode's game seed (agents.exploration.episode_exploration), so an episode records the same play in
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
    explore = policy is None
    if explore:
        policy = EpisodeSeeded(info, num_envs, exploration)

    def save(result: EpisodeResult) -> None:
        save_episode(episode_path(folder, todo[result.index]), _to_episode(result.trajectory))
        stats["episodes_recorded"] += 1
        stats["frames_recorded"] += result.steps + 1

    start = time.perf_counter()
    seeds, label = [episode_seed(seed, i) for i in todo], f"collect {env_name}" if progress else None
    if ray_address and explore:
        name = exploration or info.exploration_policies[0]
        ray_episodes(ray_address, env_name, seeds, lambda _i: {"kind": "exploration", "name": name}, workers=workers,
                     max_steps=max_steps, record=True, on_episode=save, progress=label)
    else:
        run_episodes(env_name, seeds, policy, workers=num_envs, max_steps=max_steps, record=True, on_episode=save,
                     progress=label)
    stats["seconds"] = time.perf_counter() - start
    return stats


def _to_episode(trajectory: dict[str, list]) -> Episode:
    return Episode(
        frames=np.stack(trajectory["frames"]).astype(np.uint8),
        actions=np.asarray(trajectory["actions"]),
        rewards=np.asarray(trajectory["rewards"], dtype=np.float32),
        terminated=np.asarray(trajectory["terminated"], dtype=bool),
        truncated=np.asarray(trajectory["truncated"], dtype=bool),
    )
