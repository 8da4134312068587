"""Play inside a run's learned world model: in a window from the keyboard (C hands control to the
trained controller), headless with a video of the controller playing (--headless --record), or
next to the real game given the same actions (--side-by-side out.mp4). --model gamegan plays the
GameGAN dream (checkpoints/NAME.pt, --gamegan-name) instead of V+M's; its controller is the one
trained in that dream (controller_NAME/controller.pt), else V+M's: both read the same [z, h]."""
from __future__ import annotations

import argparse
from pathlib import Path

from agents import pilot
from worldsim.apps.cli import run_main
from worldsim.dream_env import DreamEnv
from worldsim.apps.dream_video import VIDEO_SCALE, play_dream, real_and_dream, side_by_side_frames
from worldsim.apps.keymap import keymap_for
from worldsim.media import save_video, upscale
from worldsim.apps.play import Player, controller_checkpoint, play_in_window
from worldsim.run import RunDir, resolve_device
from worldsim.world_model import WORLD_MODELS, load_world

MODELS = WORLD_MODELS
"""World model families a run can hold: name -> loader(run_dir, device[, name])."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True, help="a run directory with trained V and M")
    parser.add_argument("--model", choices=list(MODELS), default="vm", help="world model family (default vm)")
    parser.add_argument("--gamegan-name", default=None,
                        help="with --model gamegan: the GameGAN checkpoints/NAME.pt (default: the run's gamegan.name)")
    parser.add_argument("--controller", type=Path, default=None,
                        help="controller checkpoint (default: the one trained in this model's dream, else V+M's)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="the dream's temperature tau (default: the run's controller.temperature)")
    parser.add_argument("--scale", type=int, default=8, help="window upscaling of the 64x64 frame (default 8)")
    parser.add_argument("--fps", type=int, default=30, help="steps per second in the window and videos (default 30)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dream (and of the real game) (default 0)")
    parser.add_argument("--headless", action="store_true", help="no window: the controller (or a random policy) plays")
    parser.add_argument("--steps", type=int, default=300, help="steps to play without a window (default 300)")
    parser.add_argument("--record", type=Path, help="with --headless: write the dream's frames to this .mp4/.gif")
    parser.add_argument("--side-by-side", type=Path, metavar="VIDEO",
                        help="write [real | dream | difference] for the same actions from the same first frame")
    args = parser.parse_args(argv)
    if args.record and not args.headless:
        parser.error("--record needs --headless")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    run = RunDir(args.run_dir)
    world = load_world(run.root, resolve_device(args.device), args.model, args.gamegan_name)
    env = DreamEnv(world=world, temperature=args.temperature, render_mode="rgb_array")
    args.controller = args.controller or controller_checkpoint(run, world)
    if args.side_by_side:
        return side_by_side(run, env, args)
    if args.headless:
        return headless(run, env, args)
    return windowed(run, env, args)


def windowed(run: RunDir, env: DreamEnv, args: argparse.Namespace) -> int:
    controller = pilot.controller_in_dream(args.controller, env.world)
    if controller is None:
        print(f"no trained controller at {args.controller}: the keyboard stays in control")
    print("arrows/WASD move (space fires in Atari), C: controller on/off, +/-: temperature, R: restart, Q: quit")
    play_in_window(Player(env, keymap_for(env.world.game), controller, args.seed), args.scale, args.fps)
    return 0


def _or_exploration(player: pilot.Pilot | None, run: RunDir, env: DreamEnv, args: argparse.Namespace,
                    instead: str, in_dream: bool) -> pilot.Pilot:
    """The trained controller, or (saying so) the exploration policy when there is none; in the
    dream it looks at the dream's own frames."""
    if player is not None:
        return player
    print(f"no trained controller at {args.controller}; {instead}")
    name = run.load_config().collect.policy
    if in_dream:
        return pilot.exploration(env.world, args.seed, name=name, dream=env.dream)
    return pilot.exploration(env.world, args.seed, name=name)


def headless(run: RunDir, env: DreamEnv, args: argparse.Namespace) -> int:
    player = _or_exploration(pilot.controller_in_dream(args.controller, env.world), run, env, args,
                             "a random exploration policy plays", in_dream=True)
    print(f"{player.name} plays {args.steps} steps in the {env.world.label} of {env.world.env} "
          f"at tau {env.temperature:.2f}")
    played = play_dream(env, player, args.steps, args.seed)
    for i, score in enumerate(played.scores, 1):
        print(f"  episode {i}: score {score:.2f}")
    print(f"  episode {len(played.scores) + 1} (still running): score {played.unfinished:.2f}")
    if args.record:
        save_video(args.record, upscale(played.frames, VIDEO_SCALE), fps=args.fps)
        print(f"wrote {args.record} ({len(played.frames)} frames)")
    return 0


def side_by_side(run: RunDir, env: DreamEnv, args: argparse.Namespace) -> int:
    player = _or_exploration(pilot.controller_in_real_game(args.controller, env.world), run, env, args,
                             "the exploration policy picks the actions", in_dream=False)
    pair = real_and_dream(env, player, args.steps, args.seed)
    save_video(args.side_by_side, side_by_side_frames(pair, env.temperature), fps=args.fps)
    errors = pair.errors
    print(f"{player.name} acted for {len(errors) - 1} steps in the real game and the {env.world.label} "
          f"of {env.world.env}")
    first = "V's reconstruction" if env.world.family == "vm" else "the real frame itself"
    print(f"mean absolute pixel error per frame: {errors.mean():.2f} of 255 (first frame, {first}: {errors[0]:.2f})")
    print(f"wrote {args.side_by_side} ({len(errors)} frames)")
    return 0


if __name__ == "__main__":
    run_main(main)
