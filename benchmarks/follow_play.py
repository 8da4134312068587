"""What the `follow` exploration plays in a paddle game, setting by setting, side by side: points won
and lost per game, steps per game, on the collect stage's own seeds, as play is recorded (no sticky
actions; agents.exploration.BallFollowingPolicy, with GameInfo.paddle_follow changed as given), or with
--evaluation as agents are scored (sticky actions, and the serve pressed in the games that need it:
envs.atari.make's evaluation).

    python benchmarks/follow_play.py --env Atari/Pong --games 8 \\
        --settings dead_zone=1,brake=0,follow_share=1-1 dead_zone=3,brake=1,follow_share=1-1 \\
        follow_share=0.25-1 follow_share=0.5-1 follow_share=0.8-1
    python benchmarks/follow_play.py --env Atari/Pong --games 8 --policies held follow

Each --settings entry is a comma-separated list of paddle_follow values over the game's own
("NAME=X", or "NAME=LOW-HIGH" for a range such as aim_spread and follow_share); "" plays the game's
own settings. --policies held (or follow-exact) adds that exploration policy as it is.

    python benchmarks/follow_play.py --env Atari/Pong --games 20 --evaluation \\
        --settings dead_zone=3,brake=1,follow_share=1-1,aim_spread=0-0
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

import envs
from agents.collect import episode_seed
from agents.exploration import EpisodeSeeded
from envs.runner import run_episodes, slot_count
from worldsim.apps.cli import run_main


def parse_settings(text: str) -> dict:
    """'dead_zone=3,aim_spread=0-3' -> {'dead_zone': 3.0, 'aim_spread': (0.0, 3.0)}."""
    settings = {}
    for item in filter(None, text.split(",")):
        name, sep, value = item.partition("=")
        try:
            low, dash, high = value.partition("-")
            settings[name] = (float(low), float(high)) if dash else float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ValueError(f"setting {item!r}: expected NAME=X or NAME=LOW-HIGH, e.g. dead_zone=3 or aim_spread=0-3")
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Atari/Pong")
    parser.add_argument("--games", type=int, default=8, help="games (episodes) per setting")
    parser.add_argument("--settings", nargs="*", default=[""], help="paddle_follow values over the game's own")
    parser.add_argument("--policies", nargs="*", default=[], help="exploration policies played as they are, after the settings")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--evaluation", action="store_true",
                        help="play the games as agents are scored (sticky actions), not as play is recorded")
    args = parser.parse_args()
    game = envs.info(args.env)
    if "follow" not in game.exploration_policies:
        raise ValueError(f"{args.env} has no follow exploration; its policies: {', '.join(game.exploration_policies)}")
    plays = [("follow", {**game.paddle_follow, **parse_settings(text)}) for text in args.settings]
    plays += [(name, game.paddle_follow) for name in args.policies]
    seeds = [episode_seed(0, i) for i in range(args.games)]
    protocol = "as agents are scored (sticky actions)" if args.evaluation else "as play is recorded"
    print(f"{args.env}: {args.games} games each {protocol}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print("| policy | paddle_follow | won / lost per game | steps per game | won per 1,000 steps | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for name, settings in plays:
        policy = EpisodeSeeded(dataclasses.replace(game, paddle_follow=settings), slot_count(args.workers, len(seeds)), name)
        start = time.perf_counter()
        played = run_episodes(args.env, seeds, policy, workers=args.workers, evaluation=args.evaluation)
        seconds = time.perf_counter() - start
        won, lost = np.array([e.won for e in played]), np.array([e.lost for e in played])
        steps = np.array([e.steps for e in played])
        shown = ", ".join(f"{k} {v[0]:g}-{v[1]:g}" if isinstance(v, tuple) else f"{k} {v:g}" for k, v in settings.items())
        print(f"| {name} | {shown if name == 'follow' else ''} | {np.mean(won):.2f} / {np.mean(lost):.2f} | "
              f"{steps.mean():.0f} ± {steps.std():.0f} | {1000 * won.sum() / steps.sum():.2f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    run_main(main)
