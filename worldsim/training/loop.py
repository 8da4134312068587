"""The training skeleton V, M and GameGAN share: resume from the checkpoint or score the untrained
model first, step with a progress bar and scalar logs (TensorBoard and JSONL), stop on a loss
that is not finite (the last good checkpoint stays), evaluate on held-out data and save every so
often. Each model brings only what is its own: one optimisation step, its held-out evaluation,
its checkpoint and its report."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from tqdm.auto import tqdm

from worldsim.logger import ScalarLogger
from worldsim.training import check_finite


class Trainee(Protocol):
    label: str
    """"V", "M" or "GameGAN": what the progress bar and a divergence error call it"""
    log_name: str
    """logs/LOG_NAME holds its scalars"""
    checkpoint: Path
    """its checkpoint, kept as it is when a loss goes non-finite"""
    finite: tuple[str, ...]
    """the scalars of step() that must stay finite"""
    shown: tuple[str, ...]
    """the scalars of step() the progress bar shows"""

    def resume(self) -> tuple[int, dict] | None:
        """(steps taken, history) from the checkpoint; None when there is none."""

    def untrained(self) -> dict:
        """Held-out scores before training, the baseline the report compares with."""

    def step(self, step: int) -> dict[str, float]:
        """Optimisation step number `step` (0-based); returns its scalars."""

    def evaluate(self, step: int, history: dict) -> dict[str, float]:
        """Held-out scores after `step` steps, recorded into history; returns the scalars to log."""

    def save(self, step: int, history: dict) -> None:
        """Write the checkpoint after `step` steps."""


@dataclass
class Schedule:
    steps: int
    """optimisation steps to reach"""
    eval_every: int
    """steps between held-out evaluations and checkpoints (and after the last step)"""
    log_every: int
    """steps between logged training scalars"""


def train(trainee: Trainee, schedule: Schedule, logs: Path, progress: bool = True, main: bool = True,
          sync: Callable[[], None] | None = None) -> dict:
    """Train to schedule.steps from where the checkpoint left off; returns the history. Under
    torchrun only the `main` process scores, logs and saves; `sync` (a barrier) runs in every
    process after each evaluation, so none runs ahead while the main one saves."""
    resumed = trainee.resume()
    step, history = resumed if resumed else (0, {"untrained": trainee.untrained()} if main else {})
    log = ScalarLogger(logs, trainee.log_name) if main else contextlib.nullcontext()
    bar = tqdm(total=schedule.steps, initial=step, desc=trainee.label, unit="step", disable=not (progress and main))
    with log, bar:
        while step < schedule.steps:
            scalars = trainee.step(step)
            step += 1
            for name in (n for n in trainee.finite if n in scalars):  # a warm-start step may lack some
                check_finite(scalars[name], trainee.label, step, trainee.checkpoint)
            bar.update(1)
            if main and (step % schedule.log_every == 0 or step == schedule.steps):
                log.log(step, **scalars)
                bar.set_postfix({name: f"{scalars[name]:.4g}" for name in trainee.shown if name in scalars})
            if step % schedule.eval_every == 0 or step == schedule.steps:
                if main:
                    log.log(step, **trainee.evaluate(step, history))
                    trainee.save(step, history)
                if sync is not None:
                    sync()
    return history
