"""Dream vs real score by dream temperature (the paper's Doom table): for each tau, train C with
CMA-ES inside the run's dream at that tau, then play it in the real game and in the dream.

    python benchmarks/temperature_sweep.py --run-dir runs/doom-default --temperatures 0.5 1.0 1.15 1.3

Each tau trains into RUN_DIR/sweep/tau_<tau>/ (resumable); results accumulate in
RUN_DIR/sweep/results.json and print as a markdown table. Controller settings are the run's
(override with --controller.field VALUE, e.g. --controller.generations 50).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from agents.controller_training import train_in_dream
from agents.evaluate import evaluate_controller
from worldsim.apps.cli import run_main
from worldsim.config import add_override_arguments, apply_overrides, overrides_from_args
from worldsim.io import read_json, write_json
from worldsim.run import RunDir, resolve_device
from worldsim.world_model import WorldModel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0, 1.15, 1.3])
    parser.add_argument("--device", default="auto")
    add_override_arguments(parser)
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = apply_overrides(run.load_config(), overrides_from_args(args))
    world = WorldModel.load(run.root, resolve_device(args.device))
    results_path = run.root / "sweep" / "results.json"
    results = read_json(results_path) if results_path.is_file() else {}
    for tau in args.temperatures:
        key = f"{tau:g}"
        out = run.root / "sweep" / f"tau_{key}"
        if key in results and results[key].get("generations") == cfg.controller.generations:
            continue
        trained = train_in_dream(world, cfg, tau, out, out / "controller.pt")
        scores = evaluate_controller(world, cfg, out / "controller.pt", plot=out / "evaluation.png")
        results[key] = {"temperature": tau, "generations": trained["generations"], **scores}
        write_json(results_path, results)
    print(f"\n{cfg.env}: C trained in the dream at tau, {cfg.evaluate.episodes} episodes each")
    print("| tau | dream score | real score |")
    print("|---:|---:|---:|")
    for key in sorted(results, key=float):
        r = results[key]
        print(f"| {key} | {r['dream_mean']:.0f} ± {r['dream_std']:.0f} | {r['real_mean']:.0f} ± {r['real_std']:.0f} |")
    return 0


if __name__ == "__main__":
    run_main(main)
