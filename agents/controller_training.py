"""Training C with CMA-ES, the paper's two recipes: entirely inside the dream (every candidate
plays `rollouts` dream episodes, the whole population in one batched rollout at temperature tau;
V+M's dream for a WorldModel, GameGAN's for a GameGANWorld, C sees [z, h] in both), or in the
real game (`--controller.world real`, as the paper trained its best CarRacing controller: every
candidate's episodes played by real game processes across the cores while V and M track [z, h]).
Both log every generation, keep the best controller and resume from the log."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from agents.cmaes import plot_fitness, train_cmaes
from agents.collect import episode_seed
from agents.controller import ControllerSpec, load_controller, save_controller
from agents.evaluate import evaluate_in_dream, evaluate_in_real_game
from agents.rollout import ControllerPolicy, rollout
from worldsim.checkpoint import CheckpointError
from worldsim.config import Config
from worldsim.dream_env import make_dream
from worldsim.run import RunDir
from worldsim.world_model import WorldModel, load_gamegan_world

WORLDS = ("dream", "real")
"""Where CMA-ES plays the candidates (controller.world)."""


def generation_seed(seed: int, generation: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, generation, stream]).generate_state(1)[0])


def train_controller_stage(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's controller stage: C trained into the run, in V+M's dream or the real game
    (controller.world)."""
    return train_controller(WorldModel.load(run.root, device), cfg, *run.controller_files(), progress)


def train_controller(world: WorldModel, cfg: Config, out_dir: Path, checkpoint: Path, progress: bool = True) -> dict:
    """C trained where controller.world says: in `world`'s dream at controller.temperature, or in
    the real game; the CMA-ES log and fitness plot go to out_dir, the best controller to
    `checkpoint`."""
    if cfg.controller.world not in WORLDS:
        raise ValueError(f"unknown controller.world '{cfg.controller.world}'; known: {', '.join(WORLDS)}")
    if cfg.controller.world == "real":
        if cfg.controller.step_bonus:
            raise ValueError("controller.step_bonus shapes the fitness of training in the dream; "
                             "with --controller.world real set it to 0")
        return train_in_real_game(world, cfg, out_dir, checkpoint, progress)
    return train_in_dream(world, cfg, cfg.controller.temperature, out_dir, checkpoint, progress)


def train_controller_in_gamegan_dream(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's controller_gamegan stage: C trained in the dream of GameGAN cfg.gamegan.name
    at cfg.controller.temperature, into controller_NAME/."""
    if cfg.controller.world != "dream":
        raise ValueError("controller_gamegan trains C in the GameGAN dream; for C trained in the real game "
                         "(--controller.world real) run the controller stage")
    world = load_gamegan_world(run.root, device, cfg.gamegan.name)
    return train_in_dream(world, cfg, cfg.controller.temperature, *run.controller_files("gamegan", cfg.gamegan.name),
                          progress)


def train_in_dream(world: WorldModel, cfg: Config, temperature: float, out_dir: Path, checkpoint: Path,
                   progress: bool = True) -> dict:
    """Train C with CMA-ES inside `world`'s dream (make_dream: V+M's or, for a GameGANWorld,
    GameGAN's) at `temperature`; the log and the fitness plot go to out_dir, the best controller
    to `checkpoint`. Resumes from out_dir's log."""
    c = cfg.controller
    spec = ControllerSpec.for_game(world.game, world.obs_dim, c.hidden)
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
        points = returns.reshape(len(candidates), c.rollouts).mean(axis=1)
        if not c.step_bonus:
            return points
        lasted = np.asarray(steps, dtype=np.float64).reshape(len(candidates), c.rollouts).mean(axis=1)
        return points + c.step_bonus * lasted, {"points_mean": float(points.mean()), "points_best": float(points.max()),
                                                 "steps_mean": float(lasted.mean())}

    def evaluate(params: np.ndarray) -> np.ndarray:
        return evaluate_in_dream(world, spec, params, c.eval_episodes, temperature,
                                 seed=generation_seed(cfg.seed, 0, 1), max_steps=max_steps)

    result = _search(world, cfg, spec, fitness, evaluate, out_dir, checkpoint, progress,
                     {"temperature": temperature, "trained_in": "dream", "dream": world.family},
                     f"in the {world.label} (tau={temperature})")
    return {"dream": world.label, "temperature": temperature, **result, "dream_eval_mean": result.pop("eval_mean"),
            "dream_steps_per_second": counted["steps"] / counted["seconds"] if counted["seconds"] else None}


def train_in_real_game(world: WorldModel, cfg: Config, out_dir: Path, checkpoint: Path, progress: bool = True) -> dict:
    """Train C with CMA-ES in the real game: each generation plays every candidate's `rollouts`
    episodes (new game seeds each generation, from a stream that collection and evaluation never
    use) in parallel game processes (evaluate.workers; 0: one per core), V and M tracking the
    [z, h] C reads; the periodic evaluations play controller.eval_episodes real episodes. The
    log and the fitness plot go to out_dir, the best controller to `checkpoint`; resumes from
    out_dir's log."""
    c = cfg.controller
    spec = ControllerSpec.for_game(world.game, world.obs_dim, c.hidden)
    counted = {"seconds": 0.0}
    workers = cfg.ray.workers_or(cfg.evaluate.workers)

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray:
        n = len(candidates) * c.rollouts
        seeds = [episode_seed(cfg.seed, generation * n + i, stream=3) for i in range(n)]
        t0 = time.perf_counter()
        returns = evaluate_in_real_game(world, spec, np.repeat(candidates, c.rollouts, axis=0), seeds, workers,
                                        max_steps=c.max_steps, ray_address=cfg.ray.address)
        counted["seconds"] += time.perf_counter() - t0
        return returns.reshape(len(candidates), c.rollouts).mean(axis=1)

    def evaluate(params: np.ndarray) -> np.ndarray:
        seeds = [episode_seed(cfg.seed, i, stream=4) for i in range(c.eval_episodes)]
        return evaluate_in_real_game(world, spec, params, seeds, workers, max_steps=c.max_steps,
                                     ray_address=cfg.ray.address)

    result = _search(world, cfg, spec, fitness, evaluate, out_dir, checkpoint, progress,
                     {"trained_in": "real"}, "in the real game")
    return {"world": "real game", **result, "real_eval_mean": result.pop("eval_mean"),
            "real_seconds_per_generation": counted["seconds"] / result["generations_run"]
            if result["generations_run"] else None}


def initial_params(cfg: Config, spec: ControllerSpec) -> np.ndarray | None:
    """Where CMA-ES starts: the parameters of controller.init's checkpoint (refused unless it reads
    the same inputs and drives the same game), or None for zeros (with a hidden layer too: a first
    layer drawn at torch.nn.Linear's scale did not climb faster on Pong, docs/RESULTS.md)."""
    if not cfg.controller.init:
        return None
    init_spec, params, _ = load_controller(cfg.controller.init, env=cfg.env, obs_dim=spec.obs_dim)
    if init_spec != spec:
        raise CheckpointError(f"{cfg.controller.init}: a controller of another shape ({init_spec}); this run's C is {spec}")
    return params


def _search(world: WorldModel, cfg: Config, spec: ControllerSpec, fitness: Callable, evaluate: Callable,
            out_dir: Path, checkpoint: Path, progress: bool, meta: dict, where: str) -> dict:
    """CMA-ES (agents.cmaes) with this fitness and evaluation; the best controller, with `meta`,
    goes to `checkpoint`, the fitness plot to out_dir."""
    def save_best(params: np.ndarray, info: dict) -> None:
        save_controller(checkpoint, cfg.env, spec, params, {**info, **meta, "init": cfg.controller.init})

    result = train_cmaes(spec.num_params, fitness, evaluate, cfg.controller, cfg.seed, out_dir, save_best, progress,
                         x0=initial_params(cfg, spec))
    plot_fitness(result["history"], out_dir / "fitness.png", f"{cfg.env}: CMA-ES {where}")
    return {
        "generations": result["generations"],
        "generations_run": result["generations_run"],
        "num_params": spec.num_params,
        "eval_mean": result["best_eval_mean"],
        "fitness_plot": str((out_dir / "fitness.png").relative_to(out_dir.parent)),
    }
