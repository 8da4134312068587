"""Real-game steps per second: this machine's game processes (envs.runner.run_episodes) against
Ray workers (agents.cluster.ray_episodes on a local Ray cluster), 1 and 2 of each, playing the
same episodes (the game's exploration policy, seeded per episode); Ray's overhead per episode; and
from those figures the wall clock of the World Models paper's real-game CMA-ES recipe for
CarRacing (64 candidates x 16 rollouts x 1,000 steps a generation, ~1,800 generations) on a
64-core cluster. Each engine is timed twice, side by side in one run; the faster is kept (the
median of two), start-up (game processes or actors) counted separately.

    python benchmarks/ray_throughput.py --envs CarRacing --episodes 8 --max-steps 300
    python benchmarks/ray_throughput.py --envs Doom --episodes 48 --max-steps 2100
"""
from __future__ import annotations

import argparse
import time

import torch

import envs
from agents.cluster import connect, ray_episodes
from agents.exploration import EpisodeSeeded
from envs.runner import run_episodes

PAPER_STEPS = 64 * 16 * 1000 * 1800
"""Real-game steps of the paper's CarRacing CMA-ES: 64 x 16 rollouts of 1,000 steps, 1,800 generations."""


def local(env: str, seeds: list[int], workers: int, max_steps: int) -> tuple[float, int]:
    policy = EpisodeSeeded(envs.info(env), workers)
    start = time.perf_counter()
    results = run_episodes(env, seeds, policy, workers=workers, max_steps=max_steps)
    return time.perf_counter() - start, sum(r.steps for r in results)


def remote(env: str, seeds: list[int], workers: int, max_steps: int) -> tuple[float, int]:
    name = envs.info(env).exploration_policies[0]
    start = time.perf_counter()
    results = ray_episodes("local", env, seeds, lambda i: {"kind": "exploration", "name": name}, workers=workers,
                           max_steps=max_steps)
    return time.perf_counter() - start, sum(r.steps for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["CarRacing", "Doom"])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=300)
    args = parser.parse_args()
    ray = connect("local")
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}; Ray {ray.__version__}, "
          f"{int(ray.cluster_resources().get('CPU', 0))} CPUs; {args.episodes} episodes of at most {args.max_steps} steps")
    print("| game | engine | workers | steps | wall s | steps/s, wall | start-up s | steps/s after start-up |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for env in args.envs:
        seeds = list(range(100, 100 + args.episodes))
        for engine, play in (("local processes", local), ("Ray", remote)):
            for workers in (1, 2):
                # start-up alone: one one-step episode per worker
                startup, _ = play(env, seeds[:workers], workers, 1)
                timings = sorted(play(env, seeds, workers, args.max_steps) for _ in range(2))
                wall, steps = timings[0]
                rate = steps / max(wall - startup, 1e-9)
                rates[env, engine, workers] = (rate, wall, steps)
                print(f"| {env} | {engine} | {workers} | {steps} | {wall:.1f} | {steps / wall:.0f} | {startup:.1f} "
                      f"| {rate:.0f} |", flush=True)
    print()
    for env in args.envs:
        for workers in (1, 2):
            (_, local_wall, steps), (_, ray_wall, _) = rates[env, "local processes", workers], rates[env, "Ray", workers]
            overhead = (ray_wall - local_wall) / args.episodes
            print(f"{env}, {workers} worker(s): Ray {local_wall / ray_wall:.2f}x the local steps/s, overhead "
                  f"{overhead:+.2f} s per episode (wall clock, start-up included)")
        _, wall, steps = rates[env, "Ray", 2]
        per_worker = steps / wall / 2
        days = PAPER_STEPS / (64 * per_worker) / 86400
        print(f"{env}: the paper's CMA-ES recipe ({PAPER_STEPS:.3g} steps) on 64 Ray workers at this machine's "
              f"{per_worker:.0f} steps/s each: {days:.1f} days (game steps alone, without V, M and C)")


if __name__ == "__main__":
    main()
