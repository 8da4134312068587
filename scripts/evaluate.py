"""Evaluate a run's dream-trained controller in the real game and in the dream.

    python scripts/evaluate.py --run-dir DIR --episodes 100 [--seed S] [--controller PATH [--temperature T]]
                               [--real-only]

Prints mean ± std of both and records them, with every episode's return, under
stages.evaluate in DIR/report.json (for another controller file, under stages."evaluate PATH").
Draws the share of episodes reaching each return, real game against dream, to
DIR/evaluation.png (another controller: DIR/evaluation_<its file name>.png, or --plot).

--real-only plays the real game alone (recorded under stages."evaluate real game" or
"evaluate real game PATH", drawn to DIR/evaluation_real_<file name>.png): the pipeline's stage
is left as it was.
"""
import argparse
from pathlib import Path

from worldsim.apps.cli import run_main


def main() -> int:
    from agents.evaluate import evaluate_controller, print_scores
    from worldsim.apps.pipeline import check_frames, run_stage
    from worldsim.run import RunDir, resolve_device
    from worldsim.world_model import WorldModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--episodes", type=int, help="episodes in each world (default: the run's config, 100)")
    parser.add_argument("--seed", type=int, help="seed of the real-game episode seeds (default: the run's config)")
    parser.add_argument("--workers", type=int, help="parallel game processes (default: one per core)")
    parser.add_argument("--device", help="auto, cpu or cuda (default: the run's config)")
    parser.add_argument("--controller", type=Path, help="a controller checkpoint other than the run's own")
    parser.add_argument("--temperature", type=float, help="with --controller: the dream's temperature (default: the one "
                        "the controller was trained at, else the run's controller.temperature)")
    parser.add_argument("--plot", type=Path, help="where to draw the returns (with --controller or --real-only; "
                        "default: DIR/evaluation_<controller file name>.png, DIR/evaluation_real_<file name>.png)")
    parser.add_argument("--real-only", action="store_true", help="score the controller in the real game only, not "
                        "in the dream")
    args = parser.parse_args()
    if args.real_only and args.temperature is not None:
        parser.error("--temperature is the dream's, and --real-only plays no dream")
    if args.temperature is not None and args.controller is None:
        parser.error("--temperature needs --controller (the run's own controller is scored at the temperature it was trained at)")
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    for name in ("episodes", "seed", "workers"):
        if getattr(args, name) is not None:
            setattr(cfg.evaluate, name, getattr(args, name))
    device = resolve_device(args.device or cfg.device)
    if args.controller is None and not args.real_only:
        result = run_stage("evaluate", run, cfg, device, force=True)
    else:
        check_frames(run, cfg.env)
        checkpoint = args.controller or run.controller_checkpoint
        if args.real_only:
            plot, stage = run.root / f"evaluation_real_{checkpoint.stem}.png", "evaluate real game"
            stage += f" {args.controller}" if args.controller else ""
        else:
            tau = f"_tau{args.temperature:g}" if args.temperature is not None else ""
            plot = run.root / f"evaluation_{checkpoint.stem}{tau}.png"
            stage = f"evaluate {checkpoint}" + (f" tau {args.temperature:g}" if args.temperature is not None else "")
        result = evaluate_controller(WorldModel.load(run.root, device), cfg, checkpoint, plot=args.plot or plot,
                                     temperature=args.temperature, dream=not args.real_only)
        run.update_stage(stage, status="complete", **result)
    print(f"{cfg.env}, {result['episodes']} episodes" + (" each:" if "dream_mean" in result else " in the real game:"))
    print_scores(result)
    return 0


if __name__ == "__main__":
    run_main(main)
