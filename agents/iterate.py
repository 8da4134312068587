"""The paper's iterative training procedure (World Models, section 5): record real play of the
dream-trained controller (mixed with exploration so it also sees what it avoids), add it to
the episodes, re-encode, continue training M on everything, and train C again in the improved
dream. C itself still never learns from real rewards: only the world model sees real games."""
from __future__ import annotations

import copy
import shutil
import time

import numpy as np
import torch

from agents.controller import load_controller
from agents.evaluate import one_torch_thread
from agents.latent import LatentController
from agents.exploration import make_exploration_policy
from envs.runner import slot_count
from worldsim.checkpoint import load_checkpoint
from worldsim.config import Config
from agents.collect import collect
from worldsim.data.episodes import list_episodes
from worldsim.run import RunDir
from worldsim.training.encode import encode_run
from worldsim.training.mdnrnn import train_mdnrnn
from worldsim.world_model import WorldModel


class MixedPolicy:
    """The controller, with each step's action replaced by the exploration policy's with
    probability `epsilon` (per game process, one row per process)."""

    def __init__(self, controller: LatentController, exploration, epsilon: float, seed: int):
        self.controller, self.exploration, self.epsilon = controller, exploration, epsilon
        self.rng = np.random.default_rng(seed)

    def reset(self, mask: np.ndarray) -> None:
        self.controller.reset(mask)
        self.exploration.reset(mask)

    def rewarded(self, rewards: np.ndarray) -> None:
        self.controller.rewarded(rewards)

    def act(self, frames: np.ndarray) -> np.ndarray:
        z = self.controller.encode(frames)
        chosen = self.controller.choose(z).cpu().numpy()
        explore = self.rng.random(len(chosen)) < self.epsilon
        random_actions = self.exploration.act(frames)  # drawn every step so its held actions keep their rhythm
        chosen = np.where(explore.reshape(-1, *[1] * (chosen.ndim - 1)), random_actions, chosen)
        return self.controller.advance(z, torch.as_tensor(chosen, device=z.device))


def mdnrnn_step(run: RunDir, env: str) -> int:
    """Optimisation steps M's checkpoint has taken."""
    return int(load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn", env=env)["state"]["step"])


def iterate(run: RunDir, cfg: Config, device: torch.device, total_episodes: int, epsilon: float,
            total_mdnrnn_steps: int, progress: bool = True) -> dict:
    """One round: record the controller's play until the run holds `total_episodes` episodes,
    encode them, train M until it has taken `total_mdnrnn_steps` steps, then keep the
    controller as controller_roundN/ and clear the controller and evaluate stages. Targets
    rather than increments, so a round killed anywhere before its end resumes where it stopped.
    Returns what it recorded and M's held-out metrics after the extra training."""
    world = WorldModel.load(run.root, device)
    spec, params, meta = load_controller(run.controller_checkpoint, env=cfg.env, obs_dim=world.obs_dim)
    before = len(list_episodes(run.episodes))
    workers = slot_count(0, max(total_episodes - before, 1))
    rounds = sum(1 for name, stage in run.report()["stages"].items()
                 if name.startswith("iterate_") and stage.get("status") == "complete")
    policy = MixedPolicy(LatentController(world, spec, params, workers),
                         make_exploration_policy(world.game, workers, cfg.seed + 1000 + rounds, cfg.collect.policy),
                         epsilon, seed=cfg.seed + rounds)
    with one_torch_thread():
        stats = collect(cfg.env, run.episodes, total_episodes, workers=workers, seed=cfg.seed + 1000 + rounds,
                        progress=progress, policy=policy)
    encode_run(run, cfg.env, device, progress)
    m_cfg = copy.deepcopy(cfg)
    m_cfg.mdnrnn.steps = total_mdnrnn_steps
    m = train_mdnrnn(run, m_cfg, device, progress)
    previous = run.stage("controller")
    controller_dir = run.root / "controller"
    if controller_dir.is_dir():
        kept = run.controller_round(rounds)
        if kept.exists():  # left by a round killed between the move and its record
            shutil.rmtree(kept)
        shutil.move(str(controller_dir), str(kept))
        shutil.copy(run.controller_checkpoint, kept / "controller.pt")
    for stage in ("controller", "evaluate"):
        run.reset_stage(stage)
    return {"round": rounds + 1, "episodes_recorded": stats["episodes_recorded"],
            "frames_recorded": stats["frames_recorded"], "epsilon": epsilon,
            "recorded_with_controller_of_generation": meta.get("generation"),
            "previous_controller_seconds": previous.get("seconds"),
            "mdnrnn_steps": total_mdnrnn_steps, "val_nll": m["val_nll"],
            "done_precision": m["done_precision"], "done_recall": m["done_recall"]}


def iterate_round(run: RunDir, cfg: Config, device: torch.device, episodes: int, epsilon: float,
                  extra_mdnrnn_steps: int, progress: bool = True) -> dict:
    """One round on top of what the run holds now: `episodes` more episodes of the controller's
    play, `extra_mdnrnn_steps` more steps for M. Recorded as iterate_N in report.json, and M's new
    step count in config.json (so the mdnrnn stage counts it complete)."""
    start = time.perf_counter()
    total_steps = mdnrnn_step(run, cfg.env) + extra_mdnrnn_steps
    result = iterate(run, cfg, device, len(list_episodes(run.episodes)) + episodes, epsilon, total_steps, progress)
    cfg.mdnrnn.steps = total_steps
    run.update_stage(f"iterate_{result['round']}", status="complete", seconds=round(time.perf_counter() - start, 2),
                     **result)
    run.open(cfg)
    return result
