"""The World Models pipeline: collect -> train V -> encode -> train M -> train C in the dream
(CMA-ES) -> iterate (rounds of: record C's real play, train M further, train C again) ->
evaluate C in the real game and the dream; and the GameGAN branch: train GameGAN
on the episodes -> train C in the GameGAN dream (V and M still supply [z, h], episode ends and
rewards) -> evaluate it. Each stage is skipped when report.json says it is complete, and
resumes from its own checkpoints when it is not."""
from __future__ import annotations

import os
import time
from typing import Callable

import torch

import envs
from agents.collect import collect
from agents.controller_training import train_controller_in_gamegan_dream, train_controller_stage
from agents.evaluate import evaluate_gamegan_transfer, evaluate_transfer
from agents.iterate import iterate
from worldsim.config import Config
from worldsim.run import RunDir, RunDirError
from worldsim.training.encode import encode_run
from worldsim.training.gamegan import train_gamegan
from worldsim.training.mdnrnn import train_mdnrnn
from worldsim.training.vae import train_vae

Stage = Callable[[RunDir, Config, torch.device, bool], dict]


def _collect(run: RunDir, cfg: Config, device: torch.device, progress: bool) -> dict:
    c = cfg.collect
    stats = collect(cfg.env, run.episodes, c.episodes, workers=cfg.ray.workers_or(c.workers),
                    max_steps=c.max_steps, seed=cfg.seed, progress=progress, exploration=c.policy,
                    ray_address=cfg.ray.address)
    seconds = stats.pop("seconds")
    game = envs.info(cfg.env)
    return {"episodes": c.episodes, "frames": game.frames, "episode_end": "first lost life" if game.one_life else "game over",
            **stats, "frames_per_second": stats["frames_recorded"] / seconds if seconds else None}


def _encode(run: RunDir, cfg: Config, device: torch.device, progress: bool) -> dict:
    return encode_run(run, cfg.env, device, progress)


def _iterate(run: RunDir, cfg: Config, device: torch.device, progress: bool) -> dict:
    """The paper's iterative training, iterate.rounds times after the first controller. Round k
    is recorded as iterate_k; its targets (collect.episodes + k * iterate.episodes episodes,
    mdnrnn.steps + k * iterate.mdnrnn_steps steps for M) make a killed round resume in place."""
    it = cfg.iterate
    seconds = {}
    for k in range(1, it.rounds + 1):
        name = f"iterate_{k}"
        if not run.stage_complete(name):
            t0 = time.perf_counter()
            result = iterate(run, cfg, device, cfg.collect.episodes + k * it.episodes, it.epsilon,
                             cfg.mdnrnn.steps + k * it.mdnrnn_steps, progress)
            run.update_stage(name, status="complete", seconds=round(time.perf_counter() - t0, 2), **result)
            print(f"[{name}] {result['episodes_recorded']} episodes recorded, M val NLL {result['val_nll']:.4f}")
        run_stage("controller", run, cfg, device, progress)
        seconds[f"{name}_seconds"] = run.stage(name).get("seconds")
    return {"rounds": it.rounds, **seconds}


STAGES: dict[str, Stage] = {
    "collect": _collect,
    "vae": train_vae,
    "encode": _encode,
    "mdnrnn": train_mdnrnn,
    "controller": train_controller_stage,
    "iterate": _iterate,
    "evaluate": evaluate_transfer,
}

OPTIONAL_STAGES: dict[str, Stage] = {
    "gamegan": train_gamegan,
    "controller_gamegan": train_controller_in_gamegan_dream,
    "evaluate_gamegan": evaluate_gamegan_transfer,
}
"""Stages run only when asked for by name (run_stage, a script's stage list, --world-model
gamegan|both), never by default."""

GAMEGAN_STAGES = ["gamegan", "controller_gamegan", "evaluate_gamegan"]

WORLD_MODEL_STAGES: dict[str, list[str]] = {
    "vm": list(STAGES),
    "gamegan": ["collect", "vae", "encode", "mdnrnn", *GAMEGAN_STAGES],  # V and M give GameGAN's dream [z, h], ends, rewards
    "both": [*STAGES, *GAMEGAN_STAGES],
}
"""The stages `train_world_model.py --world-model X` runs."""


class FramesChangedError(RunDirError):
    """The run's episodes were recorded from frames made another way than the game makes them now
    (shown as one line by the scripts, as a wrong run directory is)."""


def check_frames(run: RunDir, env: str) -> None:
    """Refuse to go on with a run whose episodes were recorded from frames made another way than
    `env` makes them today (GameInfo.frames): its models would be scored, or trained further, on
    frames unlike the ones they learned. A collect record without "frames" predates the field:
    Atari's frames were then "area", the other games' "" (unchanged)."""
    record = run.stage("collect")
    if record.get("status") != "complete":
        return
    game = envs.info(env)
    recorded = record.get("frames", "area" if game.family == "atari" else "")
    if recorded != game.frames:
        raise FramesChangedError(
            f"{run.root}: its episodes were recorded from {env} frames made as {recorded!r}, and the game now "
            f"makes them as {game.frames!r} (envs/{game.family}.py); record new episodes in a new run, "
            f"e.g. python scripts/train_world_model.py --env {env} --run-dir NEW_RUN")


def run_stage(name: str, run: RunDir, cfg: Config, device: torch.device, progress: bool = True,
              force: bool = False) -> dict:
    """Run one stage unless it is already complete; record its metrics and wall time (the
    GameGAN stages under gamegan.name, so a run can hold several GameGAN variants). A stage after
    collect first checks that the game still makes its frames as they were recorded."""
    stage = stage_name(name, cfg)
    if name != "collect":
        check_frames(run, cfg.env)
    if run.stage_complete(stage) and not force and not _more_asked(name, stage, run, cfg):
        print(f"[{stage}] already complete, skipped")
        return run.stage(stage)
    # Under torchrun every process runs the stage; only the first records it in report.json.
    record = run.update_stage if os.environ.get("RANK", "0") == "0" else (lambda *args, **kwargs: None)
    previous = run.stage(stage).get("seconds", 0.0)
    record(stage, status="running", config=cfg.to_dict())  # what this stage ran with, kept when config.json changes
    t0 = time.perf_counter()
    try:
        metrics = {**STAGES, **OPTIONAL_STAGES}[name](run, cfg, device, progress)
    except BaseException:
        # An interrupted stage keeps the time it spent, so the report's wall time stays true.
        record(stage, status="interrupted", seconds=round(previous + time.perf_counter() - t0, 2))
        raise
    seconds = previous + time.perf_counter() - t0
    record(stage, status="complete", seconds=round(seconds, 2), **metrics)
    print(f"[{stage}] complete in {seconds:.1f}s")
    return run.stage(stage)


def _more_asked(name: str, stage: str, run: RunDir, cfg: Config) -> bool:
    """A completed stage runs again when the command line now asks for more of it: iterate when
    --iterate.rounds asks for more rounds, a GameGAN when --gamegan.steps asks for more steps
    than it ran (it resumes from its checkpoint)."""
    if name == "iterate":
        return run.stage(name).get("rounds", 0) < cfg.iterate.rounds
    if name == "gamegan":
        ran = run.stage(stage).get("config", {}).get("gamegan", {}).get("steps")
        return ran is not None and ran < cfg.gamegan.steps
    return False


def stage_name(name: str, cfg: Config) -> str:
    """The report.json entry of stage `name`: gamegan -> NAME, controller_gamegan ->
    controller_NAME, evaluate_gamegan -> evaluate_NAME (NAME = gamegan.name)."""
    if name == "gamegan":
        return cfg.gamegan.name
    if name in ("controller_gamegan", "evaluate_gamegan"):
        return f"{name.split('_')[0]}_{cfg.gamegan.name}"
    return name


def run_pipeline(run: RunDir, cfg: Config, device: torch.device, stages: list[str] | None = None,
                 progress: bool = True) -> dict:
    for name in stages or list(STAGES):
        run_stage(name, run, cfg, device, progress)
    return run.report()
