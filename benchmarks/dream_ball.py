"""Where a V+M dream loses a paddle game's ball: on a run's held-out recorded episodes, from real
starting frames, the ball in V's picture of the real frame (horizon 0) and in M's open-loop dream k
steps on (driven by the recorded actions), beside the ball in the real frame k steps on.

    python benchmarks/dream_ball.py --run-dir runs/pong-follow-iter
    python benchmarks/dream_ball.py --run-dir runs/pong-follow-iter --mdnrnn runs/pong-follow-iter/m_other/mdnrnn.pt

The starts are every --every steps of M's held-out episodes (its own validation split), from step
--every on. At each start M's LSTM has read the episode's real z (V's means), actions and score up
to there, as LatentController carries it in the real game; from V's mean of the start frame M then
dreams on alone: each step it reads its own last z and the recorded action (and the recorded score,
so that the horizon measures the picture, not the points), and z_{t+1} is drawn from its mixture at
each --temperatures value (0: the likeliest component's mean). V decodes each horizon's z.

Inside the box of the game's ball spec (GameInfo.ball_and_paddle), each pixel's contrast is its
distance from the box's median colour. The real ball is the real frame's pixels of contrast above
BALL_LEVELS (their centre). For each horizon, over the real frames that show the ball: the share
where the decoded frame's most distinct pixel lies within NEAR of the real ball, the median distance
between the two, the decoded frame's largest contrast within NEAR of the real ball (beside the real
frame's), and where a ridge probe, fitted on training episodes' z, reads the ball from the latents V
decoded (median error, share within NEAR). A last row gives the probe's error of a z that says
nothing: the ball's mean position. A dream that keeps the ball keeps these near horizon 0's.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from atari_v_objects import ridge_fit

from worldsim.apps.cli import run_main
from worldsim.data.episodes import list_episodes, load_episode, split_episodes
from worldsim.data.frames import parse_object
from worldsim.data.latents import draw_z, load_latents
from worldsim.models.mdnrnn import load_mdnrnn, running_score, sample_next_z
from worldsim.run import RunDir
from worldsim.world_model import WorldModel

NEAR = 3.0
"""pixels: a decoded ball this close to the real one is where the game has it"""
BALL_LEVELS = 60
"""a real frame's pixel is the ball where it differs from the box's colour by more than this (of
255, summed over the channels); the resized ball's blended pixel differs by 230-380"""


def contrast(frames: np.ndarray, box) -> np.ndarray:
    """(n, 64, 64, 3) uint8 frames -> (n, rows, columns) each pixel of the ball's box's distance
    from the box's median colour (levels of 255, summed over the channels)."""
    inside = frames[:, box[0], box[1]].astype(np.int16)
    return np.abs(inside - np.median(inside, axis=(1, 2), keepdims=True)).sum(-1)


def starts_and_states(m, episodes, every: int, horizon: int):
    """Every `every`-th step of each episode (leaving `horizon` steps after it) with M's LSTM state
    there: M read the episode's z, actions and score before it. -> list of (episode index, t0),
    h and c (starts, hidden)."""
    picks, hs, cs = [], [], []
    for i, (mu, actions, score) in enumerate(episodes):
        state, done = None, 0
        for t0 in range(every, len(actions) - horizon + 1, every):
            z = torch.from_numpy(mu[None, done:t0])
            s = torch.from_numpy(score[None, done:t0]) if m.score_scale else None
            _, state = m.lstm(m.inputs(z, torch.from_numpy(actions[None, done:t0]), s), state)
            done = t0
            picks.append((i, t0))
            hs.append(state[0][0, 0])
            cs.append(state[1][0, 0])
    return picks, torch.stack(hs), torch.stack(cs)


@torch.no_grad()
def dream_on(m, z0, actions, score, state, horizon: int, temperature: float, seed: int) -> torch.Tensor:
    """M's open-loop dream from z0 (n, z_dim) and LSTM state over `horizon` steps of the given
    actions (n, horizon) and score (n, horizon, 2): -> z at each horizon 1..horizon (horizon, n, z_dim)."""
    gen = torch.Generator().manual_seed(seed)
    z, out_z = z0, []
    for k in range(horizon):
        out, state = m(z[:, None], actions[:, k : k + 1], state, score[:, k : k + 1] if m.score_scale else None)
        z = sample_next_z(out, temperature, gen)
        out_z.append(z)
    return torch.stack(out_z)


def ball_centre(frames: np.ndarray, box, contrasts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real frames -> the ball's centre in its box (n, 2: row, column) and whether it shows (n,):
    the pixels more than BALL_LEVELS from the box's colour (contrasts: the frames' contrast(), where
    already at hand)."""
    ball = (contrast(frames, box) if contrasts is None else contrasts) > BALL_LEVELS
    rows, cols = np.arange(ball.shape[1]), np.arange(ball.shape[2])
    count = ball.sum(axis=(1, 2)).clip(min=1)
    return np.stack([ball.sum(2) @ rows / count, ball.sum(1) @ cols / count], axis=1), ball.any(axis=(1, 2))


def fit_probe(latents, frames_of, box, episodes: list[int], seed: int):
    """A ridge probe from z to the real ball's centre, fitted on every 4th frame that shows the
    ball in the given (training) episodes, z drawn from V's posterior (mu + sigma * noise) as M
    is trained on it, so that the probe leans on the dimensions where V's z says something and
    not on those where it is the prior's noise, which M's dream draws too: ((w, b), the ball's mean
    centre on those frames, the guess of a z that says nothing about it)."""
    rng = np.random.default_rng(seed)
    zs, at = [], []
    for i in episodes:
        centre, seen = ball_centre(frames_of(i)[::4], box)
        mu, logvar = latents[i].mu[::4][seen], latents[i].logvar[::4][seen]
        zs.append(draw_z(mu, logvar, rng))
        at.append(centre[seen])
    return ridge_fit(np.concatenate(zs).astype(np.float64), np.concatenate(at)), np.concatenate(at).mean(0)


def compare(decoded: np.ndarray, real: np.ndarray, box, z: np.ndarray, probe) -> dict:
    """Where the real frame shows the ball (pixels more than BALL_LEVELS from the box's colour;
    their centre), is the decoded frame's most distinct pixel within NEAR of it, how distinct is
    the decoded frame there (its largest contrast within NEAR of the real ball), and where does
    the probe read the ball from z (the latents V decoded)."""
    real_c, dec_c = contrast(real, box), contrast(decoded, box)
    centre, seen = ball_centre(real, box, real_c)
    rows, cols = np.arange(real_c.shape[1]), np.arange(real_c.shape[2])
    read = np.linalg.norm(z @ probe[0] + probe[1] - centre, axis=1)[seen]
    top = np.stack(np.unravel_index(dec_c.reshape(len(dec_c), -1).argmax(1), dec_c.shape[1:]), axis=1)
    gap = np.linalg.norm(top - centre, axis=1)
    near = np.hypot(rows[None, :, None] - centre[:, 0, None, None], cols[None, None, :] - centre[:, 1, None, None]) <= NEAR
    there = np.where(near, dec_c, 0).max(axis=(1, 2))
    return {"real": int(seen.sum()), "found": float((gap[seen] <= NEAR).mean()), "median_gap": float(np.median(gap[seen])),
            "contrast": float(np.median(there[seen])), "real_contrast": float(np.median(real_c.max(axis=(1, 2))[seen])),
            "probe_gap": float(np.median(read)), "probe_near": float((read <= NEAR).mean())}


@torch.no_grad()  # not set_grad_enabled(False): the tests run this main in their own process
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run with recorded and encoded episodes, V and M")
    parser.add_argument("--mdnrnn", type=Path, help="another M checkpoint to dream with (default: the run's)")
    parser.add_argument("--episodes", type=int, default=10, help="held-out episodes to start from (at most)")
    parser.add_argument("--every", type=int, default=50, help="steps between starts in an episode")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1.15])
    parser.add_argument("--probe-episodes", type=int, default=40, help="training episodes the z probe is fitted on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if min(args.horizons) < 1 or args.every < 1:
        raise ValueError("--horizons and --every must be 1 or more steps")
    t_start = time.time()
    world = WorldModel.load(args.run_dir, "cpu")
    if not world.game.ball_and_paddle:
        raise ValueError(f"{world.env} names no ball to look for (GameInfo.ball_and_paddle)")
    box = parse_object(world.game.ball_and_paddle[0])[2]
    m = load_mdnrnn(args.mdnrnn, env=world.env)[0] if args.mdnrnn else world.mdnrnn
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    paths, latents = list_episodes(run.episodes), load_latents(run.latents)
    if len(paths) != len(latents):
        raise ValueError(f"{args.run_dir}: {len(paths)} episodes but {len(latents)} encoded; run scripts/encode.py first")
    held = split_episodes(list(range(len(paths))), cfg.mdnrnn.val_fraction, cfg.seed)[1][: args.episodes]
    horizon = max(args.horizons)
    episodes = [(latents[i].mu, latents[i].actions, running_score(latents[i].rewards)) for i in held]
    picks, h, c = starts_and_states(m, episodes, args.every, horizon)
    if not picks:
        raise ValueError(f"no start leaves {horizon} steps in the held-out episodes: lower --every or --horizons")
    frames = {i: load_episode(paths[i], keys=("frames", "actions")).frames for i in {held[e] for e, _ in picks}}
    train = [i for i in range(len(paths)) if i not in set(held)]
    train = train[:: max(1, len(train) // args.probe_episodes)][: args.probe_episodes]
    probe, guess = fit_probe(latents, lambda i: load_episode(paths[i], keys=("frames", "actions")).frames, box, train, args.seed)
    real = lambda k: np.stack([frames[held[e]][t0 + k] for e, t0 in picks])  # noqa: E731
    z0 = torch.stack([torch.from_numpy(episodes[e][0][t0]) for e, t0 in picks])
    actions = torch.stack([torch.from_numpy(episodes[e][1][t0 : t0 + horizon]) for e, t0 in picks])
    score = torch.stack([torch.from_numpy(episodes[e][2][t0 : t0 + horizon]) for e, t0 in picks])
    decode = lambda z: (world.vae.decode(z).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()  # noqa: E731
    print(f"{args.run_dir} ({world.env}), M {args.mdnrnn or 'of the run'}: {len(picks)} starts in {len(frames)} held-out "
          f"episodes, every {args.every} steps")
    rows = [("V's picture of the real frame", 0, compare(decode(z0), real(0), box, z0.numpy(), probe))]
    for tau in args.temperatures:
        dreamt = dream_on(m, z0, actions, score, (h[None], c[None]), horizon, tau, args.seed)
        rows += [(f"dream at tau {tau:g}", k, compare(decode(dreamt[k - 1]), real(k), box, dreamt[k - 1].numpy(), probe)) for k in args.horizons]
    centre, seen = ball_centre(real(0), box)
    guessed = np.linalg.norm(centre[seen] - guess, axis=1)
    rows.append(("the ball's mean position, whatever z", 0, {"real": int(seen.sum()), "found": np.nan, "median_gap": np.nan,
                 "contrast": np.nan, "real_contrast": np.nan, "probe_gap": float(np.median(guessed)),
                 "probe_near": float((guessed <= NEAR).mean())}))
    print(f"| where | horizon | real frames with a ball | most distinct pixel within {NEAR:g} px of it | median gap (px) "
          f"| contrast there (real frame's) | probe on z: median gap (px) | probe within {NEAR:g} px |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, k, r in rows:
        print(f"| {name} | {k} | {r['real']} | {r['found']:.2f} | {r['median_gap']:.1f} | {r['contrast']:.0f} ({r['real_contrast']:.0f}) "
              f"| {r['probe_gap']:.1f} | {r['probe_near']:.2f} |")
    print(f"{time.time() - t_start:.0f} s; CPU capability {torch.backends.cpu.get_cpu_capability()}")
    return 0


if __name__ == "__main__":
    run_main(main)
