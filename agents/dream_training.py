"""The paper's recipe for training C entirely inside the dream: every CMA-ES candidate plays
`rollouts` dream episodes, the whole population in one batched loop, at temperature tau."""
from __future__ import annotations

import time

import numpy as np
import torch

from agents.cmaes import CMAESSettings, plot_fitness, train_cmaes
from agents.controller import ControllerSpec, save_controller
from agents.evaluate import dream_returns, evaluate_in_dream
from worldsim.config import Config
from worldsim.dream import BatchedDream
from worldsim.run import RunDir
from worldsim.world_model import WorldModel


def generation_seed(seed: int, generation: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, generation, stream]).generate_state(1)[0])


def train_controller_in_dream(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    c = cfg.controller
    world = WorldModel.load(run.root, device)
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    max_steps = c.max_steps or None
    counted = {"steps": 0, "seconds": 0.0}

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray:
        dream = BatchedDream(world, c.population * c.rollouts, c.temperature, max_steps,
                             seed=generation_seed(cfg.seed, generation, 0))
        params = torch.as_tensor(candidates, dtype=torch.float32, device=device).repeat_interleave(c.rollouts, 0)
        t0 = time.perf_counter()
        returns, steps = dream_returns(dream, spec, params)
        counted["seconds"] += time.perf_counter() - t0
        counted["steps"] += int(steps.sum())
        return returns.reshape(len(candidates), c.rollouts).mean(axis=1)

    def evaluate(params: np.ndarray) -> np.ndarray:
        return evaluate_in_dream(world, spec, params, c.eval_episodes, c.temperature,
                                 seed=generation_seed(cfg.seed, 0, 1), max_steps=max_steps)

    def save_best(params: np.ndarray, info: dict) -> None:
        save_controller(run.controller_checkpoint, cfg.env, spec, params,
                        {**info, "temperature": c.temperature, "trained_in": "dream"})

    settings = CMAESSettings(population=c.population, sigma0=c.sigma0, generations=c.generations,
                             eval_every=c.eval_every, seed=cfg.seed)
    result = train_cmaes(spec.num_params, fitness, evaluate, settings, run.root / "controller", save_best, progress)
    plot_fitness(result["history"], run.root / "controller_fitness.png",
                 f"{cfg.env}: CMA-ES in the dream (tau={c.temperature})")
    return {
        "generations": result["generations"],
        "num_params": spec.num_params,
        "dream_eval_mean": result["best_eval_mean"],
        "dream_steps_per_second": counted["steps"] / counted["seconds"] if counted["seconds"] else None,
        "fitness_plot": "controller_fitness.png",
    }
