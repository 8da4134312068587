"""Score controllers: many dream episodes as one batched rollout (V+M's dream or GameGAN's: both
observe [z, h]), and real-game episodes in parallel processes with V and M tracking the latent
state [z, h] the controller sees (as in either dream)."""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import torch

import envs
from agents.cluster import ray_episodes, world_payload
from agents.collect import episode_seed
from agents.controller import ControllerSpec, load_controller
from agents.latent import LatentController
from agents.rollout import ControllerPolicy, Rollout, rollout
from envs.runner import run_episodes, slot_count
from worldsim.world_model import WorldModel, load_gamegan_world
from worldsim.dream_env import make_dream


def play_in_dream(world: WorldModel, spec: ControllerSpec, params: np.ndarray, episodes: int,
                  temperature: float, seed: int, max_steps: int | None = None) -> Rollout:
    """`episodes` episodes of world's dream played by one controller (their lengths, returns, ends)."""
    dream = make_dream(world, episodes, temperature, max_steps, seed=seed)
    batch = torch.as_tensor(params, dtype=torch.float32, device=world.device).expand(episodes, -1)
    return rollout(dream, ControllerPolicy(spec, batch))


def evaluate_in_dream(world: WorldModel, spec: ControllerSpec, params: np.ndarray, episodes: int,
                      temperature: float, seed: int, max_steps: int | None = None) -> np.ndarray:
    """Total reward of `episodes` episodes of world's dream played by one controller."""
    return play_in_dream(world, spec, params, episodes, temperature, seed, max_steps).returns


def evaluate_in_real_game(world: WorldModel, spec: ControllerSpec, params: np.ndarray, seeds: list[int],
                          workers: int = 0, progress: str | None = None, max_steps: int = 0,
                          ray_address: str = "") -> np.ndarray:
    """Total reward of one real-game episode per seed, played by one controller (params
    (num_params,)) or episode i by params[i] (params (len(seeds), num_params)); with
    `ray_address`, on that Ray cluster's workers (agents.cluster), which get V's and M's weights
    and C's parameters."""
    if ray_address:
        rows = np.asarray(params, dtype=np.float32)
        spec_fields = dataclasses.asdict(spec)
        results = ray_episodes(ray_address, world.env, seeds, lambda i: {
            "kind": "controller", "spec": spec_fields, "params": rows if rows.ndim == 1 else rows[i]},
            workers=workers, max_steps=max_steps, progress=progress, evaluation=True, world=world_payload(world))
        return np.array([r.total_reward for r in results])
    num_envs = slot_count(workers, len(seeds))
    controller = LatentController(world, spec, params, num_envs)
    with one_torch_thread():
        results = run_episodes(world.env, seeds, controller, workers=num_envs, max_steps=max_steps,
                               progress=progress, evaluation=True)
    return np.array([r.total_reward for r in results])


@contextlib.contextmanager
def one_torch_thread():
    """While game processes use the cores, V and M's tiny per-step batches run faster on one
    thread: with two, torch's threads wait on each other whenever a game process is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def evaluate_transfer(run, cfg, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's evaluate stage: the run's dream-trained controller, real game and dream."""
    return evaluate_controller(WorldModel.load(run.root, device), cfg, run.controller_checkpoint, progress,
                               plot=run.evaluation_plot())


def evaluate_gamegan_transfer(run, cfg, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's evaluate_gamegan stage: the controller trained in the dream of GameGAN
    cfg.gamegan.name, in the real game and in that dream."""
    world = load_gamegan_world(run.root, device, cfg.gamegan.name)
    return evaluate_controller(world, cfg, run.controller_files("gamegan", cfg.gamegan.name)[1], progress,
                               plot=run.evaluation_plot("gamegan", cfg.gamegan.name))


def evaluate_controller(world: WorldModel, cfg, checkpoint, progress: bool = True, plot: Path | None = None,
                        temperature: float | None = None, dream: bool = True) -> dict:
    """A controller in the real game and in world's dream (V+M's, or GameGAN's for a
    GameGANWorld; at `temperature`, by default the one it was trained at, else the run's
    controller.temperature), mean and std over cfg.evaluate.episodes
    episodes each, and every episode's return (a real episode is the whole game, a dream episode
    what the world model learnt: one life in GameInfo.one_life games); real-game seeds come from a stream that
    collection and training never use. With `plot`, draws both return distributions there.
    dream False: the real game only (a dream the controller wins without end, e.g. one that does not
    stop paying, would otherwise run each episode to the step cap)."""
    spec, params, meta = load_controller(checkpoint, env=cfg.env, obs_dim=world.obs_dim)
    e = cfg.evaluate
    seeds = [episode_seed(e.seed, i, stream=2) for i in range(e.episodes)]
    real = evaluate_in_real_game(world, spec, params, seeds, cfg.ray.workers_or(e.workers),
                                 progress="real game" if progress else None, max_steps=e.max_steps,
                                 ray_address=cfg.ray.address)
    result = {"episodes": e.episodes, "real_mean": float(real.mean()), "real_std": float(real.std()),
              "controller_generation": meta.get("generation"), "real_returns": [round(float(x), 3) for x in real]}
    if dream:
        if temperature is None:
            temperature = meta.get("temperature", cfg.controller.temperature)
        returns = evaluate_in_dream(world, spec, params, e.episodes, temperature, seed=e.seed,
                                    max_steps=e.max_steps or cfg.controller.max_steps or None)
        result.update({"dream_mean": float(returns.mean()), "dream_std": float(returns.std()), "temperature": temperature,
                       "dream": world.label + (", one life per episode" if world.game.one_life else ""),
                       "dream_returns": [round(float(x), 3) for x in returns]})
    if plot is not None:
        plot_returns(result, plot, f"{cfg.env}: {Path(checkpoint).name}", envs.info(cfg.env).survival_reward)
        result["plot"] = Path(plot).name
    return result


def plot_returns(scores: dict, path: Path, title: str, survival: bool) -> None:
    """The share of episodes that reach each return, real game against dream (where scored): where
    the two curves part is where the dream misjudges the controller (for a +1-per-step game such as
    Doom TakeCover, the share of episodes still alive at each step)."""
    from worldsim.media import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4))
    worlds = [("real", "real game", "k")]
    if "dream_returns" in scores:
        worlds.append(("dream", f"{scores['dream']}, tau {scores['temperature']}", "C1"))
    for key, label, color in worlds:
        returns = np.sort(np.asarray(scores[f"{key}_returns"]))
        # every episode reaches min(0, lowest return); past each episode's return one fewer does
        share = 1.0 - np.arange(len(returns) + 1) / len(returns)
        ax.step(np.r_[min(0.0, returns[0]), returns], share, where="post", color=color,
                label=f"{label}: {scores[f'{key}_mean']:.1f} ± {scores[f'{key}_std']:.1f}")
        ax.axvline(scores[f"{key}_mean"], color=color, ls="--", lw=0.8)
    ax.set_xlabel("steps survived (the return)" if survival else "return")
    ax.set_ylabel("share of episodes reaching it")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title}, {scores['episodes']} episodes" + (" each" if len(worlds) > 1 else ""))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(path, fig)


def print_scores(scores: dict) -> None:
    """The real-game and dream lines of an evaluate_controller result."""
    print(f"  real game: {scores['real_mean']:.1f} ± {scores['real_std']:.1f}")
    if "dream_mean" not in scores:
        return
    print(f"  {scores.get('dream', 'dream')} (tau={scores['temperature']}): "
          f"{scores['dream_mean']:.1f} ± {scores['dream_std']:.1f}")
