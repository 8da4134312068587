"""GameGAN against V+M on a run's held-out episodes: open-loop PSNR/SSIM by horizon, an action
classifier on generated transitions, the left-then-right memory check, and whether open loop keeps
the game's small objects (its ball and paddle, or --track-objects) where the game has them (see
worldsim/apps/compare/).

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
from worldsim.config import add_settings_arguments, settings_from_args  # noqa: E402
from worldsim.run import resolve_device  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=None,
                        help="GameGAN checkpoint names and/or 'vm' (default: those of gamegan, gamegan_nomemory, vm present)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/compare)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--no-progress", action="store_true")
    add_settings_arguments(parser.add_argument_group("comparison settings"), CompareSettings)
    args = parser.parse_args(argv)
    settings = settings_from_args(CompareSettings, args)
    results = compare(args.run_dir, args.models, settings, args.out, resolve_device(args.device),
                      progress=not args.no_progress)
    print(markdown(results))
    out = args.out or args.run_dir / "compare"
    print(f"\nwrote {', '.join(str(out / f) for f in results['files'].values())} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
