"""The paper's recipe for training C entirely inside the dream: every CMA-ES candidate plays
`rollouts` dream episodes, the whole population in one batched loop, at temperature tau. The
dream is the world's own (`world.dream`): V+M's for a WorldModel, GameGAN's for a GameGANWorld;
C sees [z, h] in both."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from agents.cmaes import plot_fitness, train_cmaes
from agents.controller import ControllerSpec, save_controller
from agents.evaluate import evaluate_in_dream
from agents.rollout import ControllerPolicy, rollout
from worldsim.config import Config
from worldsim.run import RunDir
from worldsim.world_model import WorldModel, load_gamegan_world
from worldsim.dream_env import make_dream


def generation_seed(seed: int, generation: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, generation, stream]).generate_state(1)[0])


def train_controller_in_dream(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's controller stage: C trained at cfg.controller.temperature into the run."""
    return train_in_dream(WorldModel.load(run.root, device), cfg, cfg.controller.temperature,
                          *run.controller_files(), progress)


def train_controller_in_gamegan_dream(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's controller_gamegan stage: C trained in the dream of GameGAN cfg.gamegan.name
    at cfg.controller.temperature, into controller_NAME/."""
    world = load_gamegan_world(run.root, device, cfg.gamegan.name)
    return train_in_dream(world, cfg, cfg.controller.temperature, *run.controller_files("gamegan", cfg.gamegan.name),
                          progress)


def train_in_dream(world: WorldModel, cfg: Config, temperature: float, out_dir: Path, checkpoint: Path,
                   progress: bool = True) -> dict:
    """Train C with CMA-ES inside `world`'s dream (world.dream: V+M's or, for a GameGANWorld,
    GameGAN's) at `temperature`; the log and the fitness plot go to out_dir, the best controller
    to `checkpoint`. Resumes from out_dir's log."""
    c = cfg.controller
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    max_steps = c.max_steps or None
    dtype = getattr(torch, c.dream_dtype)
    counted = {"steps": 0, "seconds": 0.0}

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray:
        dream = make_dream(world, c.population * c.rollouts, temperature, max_steps,
                            seed=generation_seed(cfg.seed, generation, 0), dtype=dtype, compile=c.dream_compile)
        params = torch.as_tensor(candidates, dtype=torch.float32, device=world.device)
        t0 = time.perf_counter()
        played = rollout(dream, ControllerPolicy(spec, params.repeat_interleave(c.rollouts, 0)))
        returns, steps = played.returns, played.steps
        counted["seconds"] += time.perf_counter() - t0
        counted["steps"] += int(steps.sum())
        return returns.reshape(len(candidates), c.rollouts).mean(axis=1)

    def evaluate(params: np.ndarray) -> np.ndarray:
        return evaluate_in_dream(world, spec, params, c.eval_episodes, temperature,
                                 seed=generation_seed(cfg.seed, 0, 1), max_steps=max_steps)

    def save_best(params: np.ndarray, info: dict) -> None:
        save_controller(checkpoint, cfg.env, spec, params, {**info, "temperature": temperature, "trained_in": "dream",
                                                            "dream": world.family})

    result = train_cmaes(spec.num_params, fitness, evaluate, c, cfg.seed, out_dir, save_best, progress)
    plot_fitness(result["history"], out_dir / "fitness.png",
                 f"{cfg.env}: CMA-ES in the {world.label} (tau={temperature})")
    return {
        "dream": world.label,
        "temperature": temperature,
        "generations": result["generations"],
        "num_params": spec.num_params,
        "dream_eval_mean": result["best_eval_mean"],
        "dream_steps_per_second": counted["steps"] / counted["seconds"] if counted["seconds"] else None,
        "fitness_plot": str((out_dir / "fitness.png").relative_to(out_dir.parent)),
    }
