"""Record real-game play with an exploration policy, in parallel game processes, one
atomically written .npz per episode. Resuming records only the missing episodes."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

import envs
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
) -> dict:
    """Make sure `folder` holds episodes 0..episodes-1; returns counts and speed of this call.
    They are played by the game's exploration policy named `exploration` ('': its default), or
    by `policy` (with act(frames) and reset(mask), one row per game process) where given, e.g.
    to record a trained controller's play."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    todo = sorted(set(range(episodes)) - existing_episodes(folder))
    stats = {"episodes_recorded": 0, "frames_recorded": 0, "seconds": 0.0}
    if not todo:
        return stats
    num_envs = slot_count(workers, len(todo))
    if policy is None:
        policy = make_exploration_policy(envs.info(env_name), num_envs, episode_seed(seed, todo[0], stream=1),
                                         exploration)

    def save(result: EpisodeResult) -> None:
        save_episode(episode_path(folder, todo[result.index]), _to_episode(result.trajectory))
        stats["episodes_recorded"] += 1
        stats["frames_recorded"] += result.steps + 1

    start = time.perf_counter()
    run_episodes(
        env_name, [episode_seed(seed, i) for i in todo], policy,
        workers=num_envs, max_steps=max_steps, record=True, on_episode=save,
        progress=f"collect {env_name}" if progress else None,
    )
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
