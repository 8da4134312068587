"""Score controllers: many dream episodes as one batched rollout (V+M's dream or GameGAN's: both
observe [z, h]), and real-game episodes in parallel processes with V and M tracking the latent
state [z, h] the controller sees (as in either dream)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

import envs
from agents.collect import episode_seed
from agents.controller import ControllerSpec, load_controller
from agents.rollout import ControllerPolicy, rollout
from envs.runner import run_episodes, slot_count
from worldsim.models.vae import frames_to_tensor
from worldsim.world_model import WorldModel, load_gamegan_world
from worldsim.dream_env import make_dream


def evaluate_in_dream(world: WorldModel, spec: ControllerSpec, params: np.ndarray, episodes: int,
                      temperature: float, seed: int, max_steps: int | None = None) -> np.ndarray:
    """Total reward of `episodes` episodes of world's dream played by one controller."""
    dream = make_dream(world, episodes, temperature, max_steps, seed=seed)
    batch = torch.as_tensor(params, dtype=torch.float32, device=world.device).expand(episodes, -1)
    return rollout(dream, ControllerPolicy(spec, batch)).returns


class LatentController:
    """Acts in the real game like C does in the dream: V encodes each frame to z (its mean),
    M's LSTM carries h forward with the action taken, and C acts on [z, h].

    params (num_params,): one controller in every game process; or (episodes, num_params): episode
    i is played by row i, the rows handed out in the order the runner starts episodes (slot by
    slot, as envs.runner.run_episodes does), e.g. a CMA-ES population's candidates."""

    def __init__(self, world: WorldModel, spec: ControllerSpec, params: np.ndarray, num_envs: int):
        self.world, self.spec = world, spec
        params = torch.as_tensor(params, dtype=torch.float32, device=world.device)
        self.per_episode = params[None] if params.ndim == 1 else params  # (episodes, num_params)
        self.params = self.per_episode[:1].expand(num_envs, -1).clone()  # (num_envs, num_params)
        self.started = 0  # episodes begun so far
        self.h, self.c = world.mdnrnn.initial_state(num_envs, world.device)  # (1, num_envs, hidden)

    def reset(self, mask: np.ndarray) -> None:
        """New episodes begin where `mask` is True: M's state starts at zero, and with one row of
        params per episode each takes the next row (past the last, the last: an idle slot)."""
        mask_t = torch.as_tensor(mask, device=self.world.device)
        self.h[:, mask_t] = 0.0
        self.c[:, mask_t] = 0.0
        if len(self.per_episode) > 1:
            for slot in np.flatnonzero(mask):
                self.params[slot] = self.per_episode[min(self.started, len(self.per_episode) - 1)]
                self.started += 1

    @torch.no_grad()
    def act(self, frames: np.ndarray) -> np.ndarray:
        z = self.encode(frames)
        return self.advance(z, self.choose(z))

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """V's z (its mean) of a batch of frames: (num_envs, z_dim)."""
        return self.world.vae.encode(frames_to_tensor(frames, self.world.device))[0]

    def choose(self, z: torch.Tensor) -> torch.Tensor:
        """C's actions for the current [z, h] (or [z, c, h])."""
        return self.spec.actions(self.params, self.world.controller_input(z, self.h[0], self.c[0]))

    @torch.no_grad()
    def advance(self, z: torch.Tensor, actions: torch.Tensor) -> np.ndarray:
        """Carry M's h forward with the actions taken; returns them for the game."""
        self.h, self.c = self.world.mdnrnn.advance(z, actions, (self.h, self.c))
        return actions.cpu().numpy()


def evaluate_in_real_game(world: WorldModel, spec: ControllerSpec, params: np.ndarray, seeds: list[int],
                          workers: int = 0, progress: str | None = None, max_steps: int = 0) -> np.ndarray:
    """Total reward of one real-game episode per seed, played by one controller (params
    (num_params,)) or episode i by params[i] (params (len(seeds), num_params))."""
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


def evaluate_controller(world: WorldModel, cfg, checkpoint, progress: bool = True, plot: Path | None = None) -> dict:
    """A controller in the real game and in world's dream (V+M's, or GameGAN's for a
    GameGANWorld; at the temperature it was trained at), mean and std over cfg.evaluate.episodes
    episodes each, and every episode's return; real-game seeds come from a stream that
    collection and training never use. With `plot`, draws both return distributions there."""
    spec, params, meta = load_controller(checkpoint, env=cfg.env, obs_dim=world.obs_dim)
    e = cfg.evaluate
    seeds = [episode_seed(e.seed, i, stream=2) for i in range(e.episodes)]
    real = evaluate_in_real_game(world, spec, params, seeds, e.workers, progress="real game" if progress else None,
                                 max_steps=e.max_steps)
    temperature = meta.get("temperature", cfg.controller.temperature)
    dream = evaluate_in_dream(world, spec, params, e.episodes, temperature, seed=e.seed,
                              max_steps=e.max_steps or cfg.controller.max_steps or None)
    result = {
        "episodes": e.episodes,
        "real_mean": float(real.mean()), "real_std": float(real.std()),
        "dream_mean": float(dream.mean()), "dream_std": float(dream.std()),
        "temperature": temperature,
        "dream": world.label,
        "controller_generation": meta.get("generation"),
        "real_returns": [round(float(x), 3) for x in real],
        "dream_returns": [round(float(x), 3) for x in dream],
    }
    if plot is not None:
        plot_returns(result, plot, f"{cfg.env}: {Path(checkpoint).name}", envs.info(cfg.env).survival_reward)
        result["plot"] = Path(plot).name
    return result


def plot_returns(scores: dict, path: Path, title: str, survival: bool) -> None:
    """The share of episodes that reach each return, real game against dream: where the two
    curves part is where the dream misjudges the controller (for a +1-per-step game such as
    Doom TakeCover, the share of episodes still alive at each step)."""
    from worldsim.media import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4))
    dream = f"{scores['dream']}, tau {scores['temperature']}"
    for key, label, color in (("real", "real game", "k"), ("dream", dream, "C1")):
        returns = np.sort(np.asarray(scores[f"{key}_returns"]))
        # every episode reaches min(0, lowest return); past each episode's return one fewer does
        share = 1.0 - np.arange(len(returns) + 1) / len(returns)
        ax.step(np.r_[min(0.0, returns[0]), returns], share, where="post", color=color,
                label=f"{label}: {scores[f'{key}_mean']:.1f} ± {scores[f'{key}_std']:.1f}")
        ax.axvline(scores[f"{key}_mean"], color=color, ls="--", lw=0.8)
    ax.set_xlabel("steps survived (the return)" if survival else "return")
    ax.set_ylabel("share of episodes reaching it")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title}, {scores['episodes']} episodes each")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(path, fig)


def print_scores(scores: dict) -> None:
    """The real-game and dream lines of an evaluate_controller result."""
    print(f"  real game: {scores['real_mean']:.1f} ± {scores['real_std']:.1f}")
    print(f"  {scores.get('dream', 'dream')} (tau={scores['temperature']}): "
          f"{scores['dream_mean']:.1f} ± {scores['dream_std']:.1f}")
