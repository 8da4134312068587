"""One round of the paper's iterative training: record the dream-trained controller's real play
(mixed with exploration), continue training M on all episodes, and retrain C in the dream.

    python scripts/iterate.py --run-dir DIR [--episodes N] [--epsilon E] [--mdnrnn-steps S]
                              [--controller.generations 50 ...]

--episodes, --epsilon and --mdnrnn-steps default to the run's iterate.episodes, iterate.epsilon
and iterate.mdnrnn_steps (also settable as --iterate.FIELD).

Afterwards the pipeline's controller and evaluate stages run again (unless --no-retrain), so
report.json ends with the new real-game score; the previous controller is kept in
DIR/controller_roundN/.
"""
import argparse
from pathlib import Path

from worldsim.apps.cli import run_main


def main() -> int:
    from agents.iterate import iterate_round
    from worldsim.config import add_override_arguments, apply_overrides, overrides_from_args
    from worldsim.apps.pipeline import run_stage
    from worldsim.run import RunDir, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--episodes", type=int, help="real episodes to record with the controller "
                        "(default: the run's iterate.episodes)")
    parser.add_argument("--epsilon", type=float, help="share of steps played by the exploration policy "
                        "(default: the run's iterate.epsilon)")
    parser.add_argument("--mdnrnn-steps", type=int, help="extra training steps for M (default: the run's "
                        "iterate.mdnrnn_steps)")
    parser.add_argument("--no-retrain", action="store_true", help="stop after updating M")
    parser.add_argument("--device", help="auto, cpu or cuda (default: the run's config)")
    parser.add_argument("--no-progress", action="store_true")
    add_override_arguments(parser)
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = apply_overrides(run.load_config(), overrides_from_args(args))
    it = cfg.iterate
    episodes = it.episodes if args.episodes is None else args.episodes
    epsilon = it.epsilon if args.epsilon is None else args.epsilon
    extra_steps = it.mdnrnn_steps if args.mdnrnn_steps is None else args.mdnrnn_steps
    device = resolve_device(args.device or cfg.device)
    progress = not args.no_progress
    result = iterate_round(run, cfg, device, episodes, epsilon, extra_steps, progress)
    print(f"[iterate] round {result['round']}: {result['episodes_recorded']} episodes, M val NLL {result['val_nll']:.4f}")
    if not args.no_retrain:
        for stage in ("controller", "evaluate"):
            run_stage(stage, run, cfg, device, progress)
    return 0


if __name__ == "__main__":
    run_main(main)
