"""Train the controller C with CMA-ES inside a run's dream (or in the real game), then evaluate it in the real game and the dream.

    python scripts/train_controller.py --run-dir DIR --model gamegan [--gamegan-name NAME]
        [--temperature T] [--out DIR] [--controller.field VALUE ...]

--model vm trains in V+M's dream (the pipeline's controller and evaluate stages); --model gamegan
in the dream of GameGAN checkpoints/NAME.pt, into RUN/controller_NAME/ (controller.pt, cmaes.jsonl,
fitness.png), with report.json stages controller_NAME and evaluate_NAME. With --out, C goes to
OUT/controller.pt and the scores to the report stage "controller_NAME OUT". Training resumes from
the folder's CMA-ES log. A GameGAN step is a stack of convolutions, many times dearer than
V+M's: on a CPU use a small population, e.g. --controller.population 16 --controller.rollouts 4.
--controller.world real trains C in the real game instead (the paper's CarRacing recipe), every
candidate's episodes played by real game processes; e.g. fine-tune from nothing with
--controller.population 16 --controller.rollouts 2 --controller.generations 5 --out DIR/real.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from worldsim.apps.cli import run_main
from worldsim.config import add_override_arguments, apply_overrides, overrides_from_args


def main() -> int:
    from agents.controller_training import train_controller
    from agents.evaluate import evaluate_controller, print_scores
    from worldsim.apps.pipeline import run_stage, stage_name
    from worldsim.run import RunDir, resolve_device
    from worldsim.world_model import WORLD_MODELS, load_world

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run directory with trained V and M")
    parser.add_argument("--model", choices=list(WORLD_MODELS), default="vm",
                        help="the dream to train in: vm (V+M's, default) or gamegan")
    parser.add_argument("--gamegan-name",
                        help="GameGAN checkpoints/NAME.pt to dream with (default: the run's gamegan.name)")
    parser.add_argument("--temperature", type=float, help="dream temperature tau (default: controller.temperature)")
    parser.add_argument("--out", type=Path, help="folder for C and its CMA-ES log (default: the run's own)")
    parser.add_argument("--device", help="auto, cpu or cuda (default: the run's config)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_override_arguments(parser)
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = apply_overrides(run.load_config(), overrides_from_args(args))
    if args.gamegan_name:
        cfg.gamegan.name = args.gamegan_name
    if args.temperature is not None:
        cfg.controller.temperature = args.temperature
    device = resolve_device(args.device or cfg.device)
    progress = not args.no_progress
    if cfg.controller.init:  # it may come from the run's config, written by an earlier call
        print(f"CMA-ES starts from {cfg.controller.init} (controller.init; --controller.init '' starts from zeros)")
    stages = ("controller", "evaluate") if args.model == "vm" else ("controller_gamegan", "evaluate_gamegan")
    if args.out is None:
        trained, scores = [run_stage(name, run, cfg, device, progress, force=True) for name in stages]
        recorded = ", ".join(stage_name(name, cfg) for name in stages)
    else:
        world = load_world(run.root, device, args.model, cfg.gamegan.name)
        trained = train_controller(world, cfg, args.out, args.out / "controller.pt", progress)
        scores = evaluate_controller(world, cfg, args.out / "controller.pt", progress,
                                     plot=args.out / "evaluation.png")
        recorded = f"{stage_name(stages[0], cfg)} {args.out}"
        run.update_stage(recorded, status="complete", **{**trained, **scores})
    where = f"the {trained['dream']} at tau {trained['temperature']}" if "dream" in trained else "the real game"
    print(f"{cfg.env}: C trained in {where} for {trained['generations']} generations, "
          f"{scores['episodes']} episodes each:")
    print_scores(scores)
    print(f"recorded in {run.report_path} under {recorded}")
    return 0


if __name__ == "__main__":
    run_main(main)
