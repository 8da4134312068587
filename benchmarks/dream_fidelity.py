"""Is the dream faithful where no controller has pushed it? Two checks of a run's V+M dream
against the real play it was trained on.

    python benchmarks/dream_fidelity.py --run-dir runs/doom-timed [--temperatures 1.0 1.15 1.3]

1. The exploration policy that collected the random episodes plays the dream at each tau; its
   episode length and return there are set beside the same policy's recorded real episodes.
2. M's done head along M's held-out real episodes (its own validation split, teacher-forced,
   z = V's mean): the episode ends the dream would draw there (the sum of the per-step ending
   probabilities) over the ends that happened, for exploration and controller episodes apart.

If both match while a trained controller scores far higher in the dream than in the real game
(report.json's evaluate stage, printed alongside), the controller has found behaviour whose
consequences M gets wrong, rather than the dream being too easy throughout.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from agents.exploration import make_exploration_policy
from worldsim.cli import run_main
from worldsim.run import RunDir, resolve_device
from worldsim.training.encode import load_latents
from worldsim.training.mdnrnn import LatentSet, evaluate_mdnrnn, split_latents
from worldsim.world_model import WorldModel


@torch.no_grad()
def exploration_in_dream(world: WorldModel, episodes: int, temperature: float, max_steps: int | None,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, return) of `episodes` dream episodes played by the game's exploration policy."""
    dream = world.dream(episodes, temperature, max_steps, seed=seed)
    policy = make_exploration_policy(world.game, episodes, seed=seed)
    dream.reset()
    alive = torch.ones(episodes, dtype=torch.bool, device=world.device)
    steps = torch.zeros(episodes, device=world.device)
    total = torch.zeros(episodes, device=world.device)
    while alive.any():
        _, reward, terminated, truncated = dream.step(torch.as_tensor(policy.act(), device=world.device))
        steps += alive.float()
        total += reward * alive
        alive &= ~(terminated | truncated)
    return steps.cpu().numpy(), total.cpu().numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 1.15, 1.3])
    parser.add_argument("--episodes", type=int, default=512, help="dream episodes per temperature")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    world = WorldModel.load(run.root, resolve_device(args.device))
    latents = load_latents(run)
    explored = int(run.stage("collect").get("episodes", len(latents)))  # the collect stage's come first
    real_steps = np.array([len(e.actions) for e in latents[:explored]])
    real_returns = np.array([float(e.rewards.sum()) for e in latents[:explored]])

    print(f"\n{cfg.env}: the exploration policy, real ({explored} recorded episodes) and in the dream "
          f"({args.episodes} episodes per tau)")
    print("| where | steps | return |")
    print("|---|---:|---:|")
    print(f"| real game | {real_steps.mean():.0f} ± {real_steps.std():.0f} "
          f"| {real_returns.mean():.1f} ± {real_returns.std():.1f} |")
    for tau in args.temperatures:
        steps, returns = exploration_in_dream(world, args.episodes, tau, cfg.collect.max_steps or None, args.seed)
        print(f"| dream, tau {tau:g} | {steps.mean():.0f} ± {steps.std():.0f} "
              f"| {returns.mean():.1f} ± {returns.std():.1f} |")

    _, val = split_latents(latents, cfg.mdnrnn.val_fraction, cfg.seed)
    in_val = {id(e) for e in val}
    groups = {"exploration": [e for e in latents[:explored] if id(e) in in_val],
              "controller (iterate rounds)": [e for e in latents[explored:] if id(e) in in_val]}
    print("\nM's done head on its held-out real episodes (z = V's mean)")
    print("| episodes | count | mean steps | ends expected / ends seen |")
    print("|---|---:|---:|---:|")
    for name, episodes in groups.items():
        if not episodes:
            continue
        data = LatentSet.build(episodes)
        metrics = evaluate_mdnrnn(world.mdnrnn, data, cfg, world.predict_reward, world.device)
        ratio = metrics["done_expected_ratio"]
        print(f"| {name} | {len(episodes)} | {data.steps.mean():.0f} | "
              f"{'no ends' if ratio is None else f'{ratio:.2f}'} |")

    evaluated = run.stage("evaluate")
    if evaluated.get("status") == "complete":
        print(f"\nthe run's controller (report.json): real {evaluated['real_mean']:.1f} ± {evaluated['real_std']:.1f}, "
              f"dream {evaluated['dream_mean']:.1f} ± {evaluated['dream_std']:.1f} (tau {evaluated['temperature']})")
    return 0


if __name__ == "__main__":
    run_main(main)
