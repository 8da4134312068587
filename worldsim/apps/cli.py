"""Command-line front ends shared by the scripts in scripts/: argument parsing, config
resolution against an existing run directory, and one-line errors instead of tracebacks."""
from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path
from typing import Callable

import envs
from worldsim.config import (PRESETS, Config, add_override_arguments, apply_overrides, make_config, overrides_from_args,
                             resolve, tune)
from worldsim.run import RunDir, RunDirError, resolve_device

# This module and the scripts import nothing heavy (torch, cma) at the top: every game process a
# script spawns imports the script again, and would pay for it once per process.


def user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input (an unknown game, a wrong run directory or checkpoint, a
    damaged episode, a diverged loss): shown as one line, not a traceback."""
    from worldsim.checkpoint import CheckpointError
    from worldsim.data.episodes import EpisodeError
    from worldsim.training import TrainingDivergedError

    return (envs.UnknownEnvError, RunDirError, CheckpointError, TrainingDivergedError, EpisodeError,
            FileNotFoundError, ValueError)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--env", help="game: CarRacing, Doom, Doom/<Scenario>, Atari/<Game> "
                        "(may be left out when --run-dir already exists)")
    parser.add_argument("--preset", choices=PRESETS, help="size preset for a new run (default: default)")
    parser.add_argument("--run-dir", type=Path, help="run directory (default: runs/<env>-<preset>)")
    parser.add_argument("--device", default=None, help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--seed", type=int, default=None, help="seed for a new run (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_override_arguments(parser)
    return parser


def default_run_dir(env: str, preset: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", env.lower()).strip("-")
    return Path("runs") / f"{slug}-{preset}"


def config_from_args(args: argparse.Namespace) -> tuple[RunDir, Config]:
    """A new run's config comes from --env/--preset; an existing run directory's stored config is
    reused, with the --section.field overrides given now applied on top."""
    env = envs.canonical_name(args.env) if args.env else None
    run_dir = args.run_dir
    if run_dir is None:
        if env is None:
            raise ValueError("give --env (and optionally --run-dir) for a new run")
        run_dir = default_run_dir(env, args.preset or "default")
    run = RunDir(run_dir)
    if run.exists():
        cfg = run.load_config()
        if env is not None and env != cfg.env:
            raise RunDirError(f"{run.root} was created for env '{cfg.env}', not '{env}'; use another --run-dir")
        if args.preset is not None and args.preset != cfg.preset:
            raise RunDirError(f"{run.root} was created with preset '{cfg.preset}', not '{args.preset}'")
    else:
        if env is None:
            raise RunDirError(f"{run.root}: not a worldsim run directory yet; give --env to start one")
        cfg = tune(make_config(env, args.preset or "default", seed=args.seed or 0), envs.info(env))
    resolve(cfg, envs.info(cfg.env))  # also fills fields newer than a stored config
    if args.device is not None:
        cfg.device = args.device
    if args.seed is not None and args.seed != cfg.seed:
        raise RunDirError(f"{run.root} was created with seed {cfg.seed}, not {args.seed}")
    apply_overrides(cfg, overrides_from_args(args))
    changed = run.open(cfg)
    if changed:
        print(f"{run.config_path} updated ({'; '.join(changed)}); stages already complete keep the config they "
              "ran with in report.json")
    return run, cfg


def run_main(main: Callable[[], int]) -> None:
    """Run a script's main with one-line errors for bad input, and a resume hint on Ctrl-C or
    a kill (SIGTERM is turned into the same clean interruption, so stages record their time)."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def pipeline_main(stages: list[str] | None, description: str, argv: list[str] | None = None) -> int:
    """Parse the common arguments and run `stages` (all of them when None) on the run directory."""
    from worldsim.apps.pipeline import (
        OPTIONAL_STAGES,
        STAGES,
        WORLD_MODEL_STAGES,
        run_pipeline,
    )

    parser = base_parser(description)
    if stages is None:
        parser.add_argument("--world-model", choices=list(WORLD_MODEL_STAGES), default="vm",
                            help="vm: World Models' V+M and C in their dream (default); gamegan: V, M (still needed "
                            "for [z, h], episode ends and rewards), GameGAN and C in GameGAN's dream; both: all of it")
        parser.add_argument("--stages", nargs="+", choices=[*STAGES, *OPTIONAL_STAGES],
                            help="run only these stages (instead of --world-model's list)")
    args = parser.parse_args(argv)
    run, cfg = config_from_args(args)
    device = resolve_device(cfg.device)
    if stages is None:
        stages = args.stages or WORLD_MODEL_STAGES[args.world_model]
    print(f"run directory: {run.root}  env: {cfg.env}  preset: {cfg.preset}  device: {device}")
    report = run_pipeline(run, cfg, device, stages, progress=not args.no_progress)
    print_summary(report)
    return 0


def print_summary(report: dict) -> None:
    for name, stage in report.get("stages", {}).items():
        shown = {k: v for k, v in stage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        numbers = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        print(f"  {name:8s} {stage.get('status', '?'):10s} {numbers}")
