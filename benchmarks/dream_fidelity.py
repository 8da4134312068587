"""Is the dream faithful where no controller has pushed it? Three checks of a run's V+M dream
(or, with --model gamegan, its GameGAN dream) against the real play it was trained on.

    python benchmarks/dream_fidelity.py --run-dir runs/doom-timed [--temperatures 1.0 1.15 1.3]
    python benchmarks/dream_fidelity.py --run-dir DIR --model gamegan --gamegan-name gamegan --episodes 64
    python benchmarks/dream_fidelity.py --run-dir DIR --temperatures 1.0 --plot lengths.png
    python benchmarks/dream_fidelity.py --run-dir DIR --temperatures 1.15 --controller DIR/checkpoints/controller.pt

1. The exploration policy that collected the random episodes plays the dream at each tau; its
   episode length (mean ± std, and median with quartiles) and return there (and, in a game that
   pays points, the points won and lost per 1,000 steps) are set beside the same policy's
   recorded real episodes.
2. M's done head along M's held-out real episodes (its own validation split, teacher-forced,
   z = V's mean): the episode ends the dream would draw there (the sum of the per-step ending
   probabilities) over the ends that happened, for exploration and controller episodes apart.
   For an M that reads the score (mdnrnn.score_scale), the share of ends its done head finds
   (logit > 0) told the true score and told 0-0 throughout: whether it ends the game by the
   count it is told or by z's picture of the score.

3. When in an episode the dream ends it: episode ends per 100 steps lived, in spans of the
   episode's step count, real against dream, for the exploration policy and (in a game whose
   reward is +1 per step, so a return is a length) for the run's controller, from the
   per-episode returns its evaluation recorded. Episodes that reach the time limit count as
   lived, not ended.

--plot PATH draws check 1's episode lengths as histograms, real against each dream.
--max-steps N stops the dream episodes of check 1 at N steps (a dream that never ends them would
otherwise run to the game's cap, on Breakout 27,000 steps); how many reached it is printed.
--controller PATH plays that controller checkpoint in the dream at each tau too: its episode
lengths beside the longest recorded real episode (a dream that stops ending episodes lets a
controller run on, and be paid, far past anything M was shown), its return and points per 1,000 steps.

If the first two match while a trained controller scores far higher in the dream than in the
real game (report.json's evaluate stage, printed alongside), the controller has found behaviour
whose consequences M gets wrong, rather than the dream being too easy throughout; the third
shows at which point of the episode the dream stops ending it.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from agents.controller import load_controller
from agents.evaluate import play_in_dream
from agents.exploration import make_exploration_policy
from agents.rollout import SeesDreamFrames, rollout
from worldsim.apps.cli import run_main
from worldsim.media import pyplot, save_figure
from worldsim.run import RunDir, resolve_device
from worldsim.data.latents import load_latents
from worldsim.data.episodes import split_episodes
from worldsim.training.mdnrnn import LatentSet, evaluate_mdnrnn
from worldsim.world_model import WORLD_MODELS, WorldModel, load_world
from worldsim.dream_env import make_dream


SPANS = (0, 250, 500, 1000, 1500)
"""Starts of the spans of an episode's step count the end rates are given for."""


def end_rates(steps: np.ndarray, ended: np.ndarray, spans=SPANS) -> list[tuple[float, int]]:
    """(episode ends per 100 steps lived, ends) in each span [spans[i], spans[i + 1]) of the step
    count (the last span is open), over episodes of `steps` steps that ended there or not."""
    steps, ended = np.asarray(steps, float), np.asarray(ended, bool)
    rates = []
    for lo, hi in zip(spans, (*spans[1:], np.inf)):
        lived = (np.clip(steps, lo, hi) - lo).sum()
        ends = int((ended & (steps >= lo) & (steps < hi)).sum())
        rates.append((100 * ends / lived if lived else float("nan"), ends))
    return rates


def print_end_rates(rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    spans = [f"{lo}–{hi}" for lo, hi in zip(SPANS, SPANS[1:])] + [f"{SPANS[-1]}+"]
    print("| episodes | " + " | ".join(spans) + " |")
    print("|---|" + "---:|" * len(spans))
    for name, (steps, ended) in rows.items():
        cells = ["–" if rate != rate else f"{rate:.2f} ({ends})" for rate, ends in end_rates(steps, ended)]
        print(f"| {name} | " + " | ".join(cells) + " |")


@torch.no_grad()
def exploration_in_dream(world: WorldModel, episodes: int, temperature: float, max_steps: int | None,
                         seed: int, policy_name: str = ""):
    """The Rollout of `episodes` dream episodes played by the game's exploration policy
    `policy_name` ('': its default)."""
    dream = make_dream(world, episodes, temperature, max_steps, seed=seed)
    policy = make_exploration_policy(world.game, episodes, seed, policy_name)
    return rollout(dream, SeesDreamFrames(policy, dream))


def quartiles(steps: np.ndarray) -> str:
    """'median [25 %, 75 %]' of episode lengths: a mean alone hides a dream whose episodes split
    into ones that end at once and ones that never end (its mean can match the real game's)."""
    q1, median, q3 = np.percentile(steps, [25, 50, 75])
    return f"{median:.0f} [{q1:.0f}, {q3:.0f}]"


def points_per_1000(steps: np.ndarray, returns: np.ndarray, lost: np.ndarray) -> str:
    """'won / lost' points per 1,000 steps over a set of episodes."""
    per = 1000 / max(1, steps.sum())
    return f"{(returns + lost).sum() * per:.1f} / {lost.sum() * per:.1f}"


def plot_lengths(path: Path, title: str, lengths: dict[str, np.ndarray]) -> None:
    """Histograms of episode lengths (steps), one outline per set of episodes, the same bins."""
    top = max(float(np.percentile(v, 99)) for v in lengths.values())
    bins = np.linspace(0, max(top, 1.0), 41)
    fig, ax = pyplot().subplots(figsize=(7, 3.6))
    for name, steps in lengths.items():
        share = np.full(len(steps), 1.0 / len(steps))
        ax.hist(np.minimum(steps, bins[-1]), bins=bins, weights=share, histtype="step", linewidth=1.8,
                label=f"{name}: {steps.mean():.0f} ± {steps.std():.0f}")
    ax.set_xlabel("episode length, steps (the last bin holds longer ones)")
    ax.set_ylabel("share of episodes")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 1.15, 1.3])
    parser.add_argument("--episodes", type=int, default=512, help="dream episodes per temperature")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=0,
                        help="cap each dream episode of the exploration policy at this many steps (0: the run's "
                             "collect.max_steps, else the game's episode cap); the episodes that reach it are counted")
    parser.add_argument("--plot", type=Path, default=None, help="write the episode lengths' histograms here (PNG)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", choices=list(WORLD_MODELS), default="vm",
                        help="whose dream: vm (V+M's) or gamegan (GameGAN's pictures, M's [z, h], ends and rewards)")
    parser.add_argument("--gamegan-name", default=None, help="with --model gamegan: checkpoints/NAME.pt")
    parser.add_argument("--controller", type=Path, default=None, metavar="PATH",
                        help="also play this controller checkpoint in the dream at each tau")
    parser.add_argument("--evaluation", default="evaluate",
                        help="report.json entry of the controller evaluation to compare (default: the evaluate "
                             "stage; scripts/evaluate.py --controller PATH records 'evaluate PATH')")
    args = parser.parse_args()
    if args.max_steps < 0:
        parser.error(f"--max-steps is a number of steps (0: the run's or the game's cap), not {args.max_steps}")
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    world = load_world(run.root, resolve_device(args.device), args.model, args.gamegan_name)
    latents = load_latents(run.latents)
    explored = int(run.stage("collect").get("episodes", len(latents)))  # the collect stage's come first
    real_steps = np.array([len(e.actions) for e in latents[:explored]])
    real_returns = np.array([float(e.rewards.sum()) for e in latents[:explored]])
    real_lost = np.array([float(-np.minimum(e.rewards, 0).sum()) for e in latents[:explored]])
    real_ended = np.array([bool(e.terminated[-1]) for e in latents[:explored]])
    rates = {"exploration, real game": (real_steps, real_ended)}
    lengths = {"real game": real_steps}
    points = world.predict_reward  # a game that pays rewards (not +1 per step survived)

    print(f"\n{cfg.env}: the exploration policy, real ({explored} recorded episodes) and in the dream "
          f"({args.episodes} episodes per tau)")
    print("| where | steps | steps: median [25 %, 75 %] | return |"
          + (" won / lost per 1,000 steps |" if points else ""))
    print("|---|---:|---:|---:|" + ("---:|" if points else ""))
    print(f"| real game | {real_steps.mean():.0f} ± {real_steps.std():.0f} | {quartiles(real_steps)} "
          f"| {real_returns.mean():.1f} ± {real_returns.std():.1f} |"
          + (f" {points_per_1000(real_steps, real_returns, real_lost)} |" if points else ""))
    cap, capped = args.max_steps or cfg.collect.max_steps or world.game.max_episode_steps, []
    for tau in args.temperatures:
        played = exploration_in_dream(world, args.episodes, tau, cap, args.seed, cfg.collect.policy)
        steps, returns = played.steps, played.returns
        rates[f"exploration, dream tau {tau:g}"] = (steps, played.ended)
        lengths[f"dream, tau {tau:g}"] = steps
        print(f"| dream, tau {tau:g} | {steps.mean():.0f} ± {steps.std():.0f} | {quartiles(steps)} "
              f"| {returns.mean():.1f} ± {returns.std():.1f} |"
              + (f" {points_per_1000(steps, returns, played.lost)} |" if points else ""))
        capped.append(f"tau {tau:g}: {int((~played.ended).sum())} of {len(steps)}")
    print(f"(dream episodes not ended by M, stopped at the cap of {cap} steps: "
          f"{', '.join(capped)}; the real game's longest: {real_steps.max()} steps)")

    if args.controller:
        print(f"\n{args.controller} in the dream ({args.episodes} episodes per tau; the longest recorded real "
              f"episode: {real_steps.max()} steps)")
        print("| where | steps | steps: median [25 %, 75 %] | longest | return |" + (" won / lost per 1,000 steps |" if points else ""))
        print("|---|---:|---:|---:|---:|" + ("---:|" if points else ""))
        spec, params, _ = load_controller(args.controller, env=world.env, obs_dim=world.obs_dim)
        for tau in args.temperatures:
            with torch.no_grad():
                played = play_in_dream(world, spec, params, args.episodes, tau, args.seed,
                                       cfg.controller.max_steps or None)
            steps, returns = played.steps, played.returns
            print(f"| dream, tau {tau:g} | {steps.mean():.0f} ± {steps.std():.0f} | {quartiles(steps)} | {steps.max()} "
                  f"| {returns.mean():.1f} ± {returns.std():.1f} |"
                  + (f" {points_per_1000(steps, returns, played.lost)} |" if points else ""))

    _, val = split_episodes(latents, cfg.mdnrnn.val_fraction, cfg.seed)
    in_val = {id(e) for e in val}
    groups = {"exploration": [e for e in latents[:explored] if id(e) in in_val],
              "controller (iterate rounds)": [e for e in latents[explored:] if id(e) in in_val]}
    print("\nM's done head on its held-out real episodes (z = V's mean)")
    print("| episodes | count | mean steps | ends expected / ends seen |")
    print("|---|---:|---:|---:|")
    for name, episodes in groups.items():
        if not episodes:
            continue
        data = LatentSet.build(episodes)
        metrics = evaluate_mdnrnn(world.mdnrnn, data, cfg, world.predict_reward, world.device)
        ratio = metrics["done_expected_ratio"]
        print(f"| {name} | {len(episodes)} | {data.steps.mean():.0f} | "
              f"{'no ends' if ratio is None else f'{ratio:.2f}'} |")
        if points:
            won, lost = metrics["points_won_expected_ratio"], metrics["points_lost_expected_ratio"]
            print(f"|   points M expects / points paid there: won {'–' if won is None else f'{won:.2f}'}, "
                  f"lost {'–' if lost is None else f'{lost:.2f}'} | | | |")
        if world.mdnrnn.score_scale:  # does the done head end the game by the count, or by z's picture of it?
            untold = dataclasses.replace(data, score=np.zeros_like(data.score))
            for told, d in (("the true score", data), ("0–0 throughout", untold)):
                found = evaluate_mdnrnn(world.mdnrnn, d, cfg, world.predict_reward, world.device)["done_recall"]
                print(f"|   told {told}: ends found {'–' if found is None else f'{found:.2f}'} | | | |")

    evaluated = run.stage(args.evaluation)
    if evaluated.get("status") == "complete":
        print(f"\nthe run's controller (report.json, {args.evaluation}): "
              f"real {evaluated['real_mean']:.1f} ± {evaluated['real_std']:.1f}, "
              f"dream {evaluated['dream_mean']:.1f} ± {evaluated['dream_std']:.1f} (tau {evaluated['temperature']})")
        if world.game.survival_reward and "real_returns" in evaluated:  # a return is a length here
            e = cfg.evaluate  # the time limits the evaluation played under (agents.evaluate.evaluate_controller)
            limits = {"real": e.max_steps or world.game.max_episode_steps,
                      "dream": e.max_steps or cfg.controller.max_steps or world.game.max_episode_steps}
            for where, limit in limits.items():
                lengths = np.asarray(evaluated[f"{where}_returns"])
                name = f"the run's controller, {'real game' if where == 'real' else 'dream'}"
                rates[name] = (lengths, lengths < limit)
    print("\nEpisode ends per 100 steps lived, by the step count reached (ends in brackets)")
    print_end_rates(rates)
    if args.plot:
        plot_lengths(args.plot, f"{cfg.env}, exploration policy: episode lengths ({run.root.name})", lengths)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    run_main(main)
