"""Dream steps per second vs the real games, measured side by side in one run.

    python benchmarks/dream_speed.py [--seconds 10] [--batches 1 256 1024 4096] [--dtype float32|bfloat16]
        [--modes eager compiled] [--hidden N] [--out docs/dream_speed.json]

Real games: one process, and a gymnasium AsyncVectorEnv with one process per core, random
actions. Dream: BatchedDream with untrained V and M of the `default` preset's sizes for each
game (speed does not depend on the weights; --hidden sets another LSTM size), random
controller, at each batch size, with M's step run eagerly and/or compiled by torch.compile.
Prints a markdown table with medians over repeats and the dream/real ratios, and a ceiling:
the steps per second of M's two matmuls alone, which no dream of that M can beat here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import envs
from agents.controller import ControllerSpec
from envs.runner import make_vector_env
from worldsim.config import make_config, resolve
from worldsim.dream import BatchedDream
from worldsim.models.mdnrnn import MDNStepper
from worldsim.models.vae import ConvVAE
from worldsim.training.mdnrnn import build_mdnrnn
from worldsim.world_model import WorldModel


def real_steps_per_second(name: str, num_envs: int, seconds: float) -> float:
    vec = make_vector_env(name, num_envs)
    vec.reset(seed=0)
    vec.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = vec.step(vec.action_space.sample())
        steps += num_envs
        done = terminated | truncated
        if done.any():
            vec.reset(options={"reset_mask": done})
    rate = steps / (time.perf_counter() - start)
    vec.close()
    return rate


def dream_world(name: str, hidden: int = 0) -> WorldModel:
    cfg = resolve(make_config(name, "default"), envs.info(name))
    cfg.mdnrnn.hidden = hidden or cfg.mdnrnn.hidden
    m = build_mdnrnn(cfg).eval()
    z = cfg.vae.z_dim
    return WorldModel(cfg.env, envs.info(name), ConvVAE(z, cfg.vae.channels).eval(), m,
                      not envs.info(name).survival_reward, cfg.mdnrnn.done_pos_weight, torch.zeros(8, z), torch.zeros(8, z),
                      torch.device("cpu"))


def dream_steps_per_second(world: WorldModel, batch: int, seconds: float, dtype: torch.dtype,
                           compile: bool = False) -> float:
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    dream = BatchedDream(world, batch, max_steps=10**9, seed=0, dtype=dtype, compile=compile)
    params = torch.randn(batch, spec.num_params) * 0.1
    obs = dream.reset()
    for _ in range(3):  # warm-up
        obs, *_ = dream.step(spec.actions(params, obs))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, *_ = dream.step(spec.actions(params, obs))
        steps += batch
    return steps / (time.perf_counter() - start)


def matmul_ceiling_steps_per_second(world: WorldModel, batch: int, seconds: float, dtype: torch.dtype) -> float:
    """Steps per second if a dream step cost nothing but M's two matmuls (LSTM gates, mixture
    head) at this batch: no sampling, no controller, no state updates. No dream of this M can
    be faster on this machine, so it says whether a speed target is reachable at all."""
    m = MDNStepper(world.mdnrnn, dtype)
    x = torch.randn(batch, m.w.shape[0]).to(dtype)
    h = torch.randn(batch, m.head_w.shape[0]).to(dtype)
    for _ in range(3):
        x @ m.w, h @ m.head_w
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x @ m.w
        h @ m.head_w
        steps += batch
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cell (the median is reported)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256, 1024, 4096])
    parser.add_argument("--games", nargs="+", default=["Doom", "CarRacing"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="M's matmuls in the dream")
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"],
                        help="M's dream step run eagerly and/or compiled by torch.compile (compilation is not timed)")
    parser.add_argument("--hidden", type=int, default=0, help="M's LSTM size (0: the default preset's for the game)")
    parser.add_argument("--no-real", action="store_true", help="measure the dream only")
    parser.add_argument("--out", help="also write the numbers as JSON here")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    cores = os.cpu_count() or 1
    results = {"cpu_cores": cores, "torch_threads": torch.get_num_threads(), "games": {}}
    for name in args.games:
        world = dream_world(name, args.hidden)
        row = {}
        for label, n in (() if args.no_real else (("real, 1 process", 1), (f"real, {cores} processes", cores))):
            row[label] = statistics.median(real_steps_per_second(name, n, args.seconds) for _ in range(args.repeats))
        for mode in args.modes:
            for batch in args.batches:
                row[f"dream {args.dtype} {mode}, batch {batch}"] = statistics.median(
                    dream_steps_per_second(world, batch, args.seconds, dtype, mode == "compiled")
                    for _ in range(args.repeats))
        for batch in args.batches:
            if batch >= 256:
                row[f"ceiling: M's two matmuls alone, {args.dtype}, batch {batch}"] = statistics.median(
                    matmul_ceiling_steps_per_second(world, batch, args.seconds, dtype) for _ in range(args.repeats))
        results["games"][name] = {"z_dim": world.z_dim, "hidden": world.mdnrnn.hidden, "steps_per_second": row}
        best_real = max((v for k, v in row.items() if k.startswith("real")), default=float("nan"))
        print(f"\n{name} (V z={world.z_dim}, M LSTM {world.mdnrnn.hidden}), median of {args.repeats} x {args.seconds:.0f} s")
        print("| setting | steps/s | x best real |")
        print("|---|---:|---:|")
        for label, rate in row.items():
            print(f"| {label} | {rate:,.0f} | {rate / best_real:.1f} |")
    if args.out:
        from worldsim.io import write_json

        write_json(args.out, results)


if __name__ == "__main__":
    main()
