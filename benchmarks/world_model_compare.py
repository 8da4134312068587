"""GameGAN against V+M on a run's held-out episodes: open-loop PSNR/SSIM by horizon, an action
classifier on generated transitions, and the left-then-right memory check (see worldsim/apps/compare/).

    python benchmarks/world_model_compare.py --run-dir runs/doom-default
    python benchmarks/world_model_compare.py --run-dir DIR --models gamegan gamegan_nomemory vm --clips 64 \\
        --horizon 32 --out docs/compare

--models takes GameGAN checkpoint names (checkpoints/NAME.pt) and `vm` (V+M); by default every
one of gamegan, gamegan_nomemory and vm that the run has. Writes compare.json, horizon.png,
open_loop.gif and memory.png into --out (default RUN_DIR/compare/) and prints markdown tables.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from worldsim.apps.cli import run_main  # noqa: E402
from worldsim.apps.compare import CompareSettings, compare, markdown  # noqa: E402
from worldsim.run import resolve_device  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    defaults = CompareSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=None,
                        help="GameGAN checkpoint names and/or 'vm' (default: those of gamegan, gamegan_nomemory, vm present)")
    parser.add_argument("--clips", type=int, default=defaults.clips, help="held-out clips")
    parser.add_argument("--horizon", type=int, default=defaults.horizon, help="open-loop steps per clip")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/compare)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--batch", type=int, default=defaults.batch, help="clips per model call")
    parser.add_argument("--classifier-steps", type=int, default=defaults.classifier_steps)
    parser.add_argument("--classifier-episodes", type=int, default=defaults.classifier_episodes,
                        help="training episodes the action classifier learns from")
    parser.add_argument("--classifier-stride", type=int, default=defaults.classifier_stride,
                        help="k: classify pairs (x_t, x_t+k) over windows holding one action (1: plain transitions)")
    parser.add_argument("--memory-steps", type=int, default=defaults.memory_steps, help="N steps left, then N right")
    parser.add_argument("--memory-starts", type=int, default=defaults.memory_starts,
                        help="held-out start frames of the memory check")
    parser.add_argument("--memory-actions", type=int, nargs=2, default=None, metavar=("LEFT", "RIGHT"),
                        help="action indices (default: the game's own, Doom TakeCover 0 2)")
    parser.add_argument("--real-seeds", type=int, default=defaults.real_seeds,
                        help="real-game episodes for the memory reference (0: skip)")
    parser.add_argument("--video-clips", type=int, default=defaults.video_clips)
    parser.add_argument("--video-format", choices=("gif", "mp4"), default=defaults.video_format)
    parser.add_argument("--fps", type=int, default=defaults.fps)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the classifier's data and weights")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    settings = CompareSettings(
        clips=args.clips, horizon=args.horizon, batch=args.batch, classifier_steps=args.classifier_steps,
        classifier_episodes=args.classifier_episodes, classifier_stride=args.classifier_stride, memory_steps=args.memory_steps,
        memory_starts=args.memory_starts, memory_actions=tuple(args.memory_actions) if args.memory_actions else None,
        real_seeds=args.real_seeds, video_clips=args.video_clips, fps=args.fps, video_format=args.video_format,
        seed=args.seed,
    )
    results = compare(args.run_dir, args.models, settings, args.out, resolve_device(args.device),
                      progress=not args.no_progress)
    print(markdown(results))
    out = args.out or args.run_dir / "compare"
    print(f"\nwrote {', '.join(str(out / f) for f in results['files'].values())} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
