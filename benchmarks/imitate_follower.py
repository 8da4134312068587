"""What a linear C on [z, h] (or the run's controller.inputs) can play in a paddle game when its
weights are right: C fitted to the exact ball follower's choice on every recorded frame of a run
(behaviour cloning, with the follower relabelling every state the recorded play visited, as DAgger
does), then played in the real game.

    python benchmarks/imitate_follower.py --run-dir runs/pong-follow-iter --out runs/pong-follow-iter/c_imitate
    python scripts/evaluate.py --run-dir runs/pong-follow-iter --controller runs/pong-follow-iter/c_imitate/controller.pt --real-only

The follower (agents.exploration.BallFollowingPolicy) always follows here (follow_share 1), aims
without error and leads the ball by the middle of the game's lead range; it reads the ball and the
paddle from the frame's pixels, which C cannot: C reads V's z and M's h, carried through each
recorded episode with the actions that acted and the score so far, as
agents.latent.LatentController carries them in the real game. z is V's mean, as the real game gives
it (`--z mean`), or drawn from V's posterior (`--z sample`), as M was trained on it and as the dream
gives it: V's inactive dimensions then carry the prior's noise (sd ~1) instead of a near-constant
mean (sd ~0.04), so the fit cannot lean on them, which a C played in the dream needs. Every 20th episode is held out to
score the fit. The controller goes to OUT/controller.pt in the run's own controller format, so
`scripts/evaluate.py --controller` plays it and `--controller.init` starts a CMA-ES search from it.
This is not a controller trained in the dream: its weights come from recorded real play.

--compare FORM ... also fits C on other inputs (z, [z, h], and with z minus the step before's z,
the motion) and prints their held-out accuracy; --mlp UNITS fits each through a hidden layer of
ReLU units as well: how much of the follower's choice the inputs hold when the map need not be
linear (docs/RESULTS.md, "Pong: what following the ball is worth").

    python benchmarks/imitate_follower.py --run-dir runs/pong-follow-zb --out runs/pong-follow-zb/c_imitate_z \\
        --compare zh zd zdh --mlp 256
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from agents.controller import ControllerSpec, save_controller
from agents.exploration import BallFollowingPolicy
from worldsim.apps.cli import run_main
from worldsim.data.episodes import list_episodes, load_episode
from worldsim.data.latents import draw_z, load_latents
from worldsim.models.mdnrnn import running_score
from worldsim.run import RunDir
from worldsim.world_model import WorldModel


def follower_labels(game, episodes: list[np.ndarray]) -> list[np.ndarray]:
    """The exact follower's action on each frame but the last of each episode's frames ((T+1, 64,
    64, 3) -> (T,)); the episodes are followed side by side, one policy row each."""
    follow = {**game.paddle_follow, "follow_share": (1.0, 1.0), "aim_spread": (0.0, 0.0)}
    lead = float(np.mean(follow.get("lead", BallFollowingPolicy.LEAD)))
    game = dataclasses.replace(game, paddle_follow={**follow, "lead": (lead, lead)})
    policy = BallFollowingPolicy(game, len(episodes), seed=0)
    steps = np.array([len(frames) - 1 for frames in episodes])
    labels = np.zeros((len(episodes), steps.max()), dtype=np.int64)
    for t in range(steps.max()):
        rows = np.minimum(t, steps - 1)  # an episode that has ended repeats its last frame, unread
        labels[:, t] = policy.act(np.stack([frames[row] for frames, row in zip(episodes, rows)]))
    return [row[:n] for row, n in zip(labels, steps)]


@torch.no_grad()
def input_parts(world: WorldModel, z: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> dict[str, torch.Tensor]:
    """What C can read at each step of one encoded episode, (T, size) each: "z" the step's V code
    (its mean, or a draw from its posterior), "h" M's state after the steps before it (zero at the
    start), as agents.latent.LatentController carries it in the real game, and "d" z minus the step
    before's z (zero at the start), the motion one frame's z does not show."""
    z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    score = torch.from_numpy(running_score(rewards)) if world.mdnrnn.score_scale else None
    h = world.mdnrnn.h_before(z, torch.from_numpy(actions), score)
    d = torch.cat([torch.zeros_like(z[:1]), z[1:] - z[:-1]])
    return {"z": z[:-1], "h": h[:-1], "d": d[:-1]}


FORMS = {"zh": "[z, h]", "z": "z", "zd": "[z, z - previous z]", "zdh": "[z, z - previous z, h]"}
"""The inputs a fit can read (--compare); a controller is saved for the run's own (controller.inputs)."""


def fit_linear(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax regression on standardised inputs, each class weighted by the inverse of its count;
    returns (W (classes, inputs), b (classes,)) for the raw inputs."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    layer = torch.nn.Linear(x.shape[1], classes)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    fit_classifier(layer, (x - mean) / std, y, classes, steps, seed)
    w, b = layer.weight.detach(), layer.bias.detach()
    return w / std, b - (w * mean / std).sum(-1)


def fit_mlp(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int, seed: int, hidden: int):
    """The same fit through one hidden layer of `hidden` ReLU units: how much of the follower's
    choice the inputs hold when the map need not be linear. Returns the classifier of raw inputs."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
    fit_classifier(net, (x - mean) / std, y, classes, steps, seed)
    return lambda raw: net((raw - mean) / std)


def fit_classifier(model: torch.nn.Module, xs: torch.Tensor, y: torch.Tensor, classes: int, steps: int,
                   seed: int) -> None:
    """Adam on the class-weighted cross-entropy (each class weighted by the inverse of its count),
    batches of 8,192 rows, an L2 penalty of 1e-4 on the weight matrices; from the model's own start."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.bincount(y, minlength=classes).float()
    weight = torch.where(counts > 0, counts.sum() / (counts.clamp(min=1) * (counts > 0).sum()), torch.zeros(()))
    matrices = [p for p in model.parameters() if p.ndim == 2]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in tqdm(range(steps), desc="fit", unit="step"):
        batch = torch.randint(0, len(xs), (8192,), generator=gen)
        loss = F.cross_entropy(model(xs[batch]), y[batch], weight=weight) + 1e-4 * sum((w ** 2).sum() for w in matrices)
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run with recorded and encoded episodes, V and M")
    parser.add_argument("--out", type=Path, required=True, help="folder for the fitted controller.pt")
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps of 8,192 frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", nargs="*", default=[], choices=sorted(FORMS),
                        help="also fit C on these inputs and print their held-out accuracy (zd: z and z minus the "
                        "step before's, the motion; zdh: and h); only the run's own inputs are saved")
    parser.add_argument("--mlp", type=int, default=0, metavar="UNITS",
                        help="also fit each input form through a hidden layer of UNITS ReLU units and print its "
                        "held-out accuracy (not a controller: C is linear)")
    parser.add_argument("--z", choices=("mean", "sample"), default="mean",
                        help="C's z while fitting: V's mean (what the real game gives C) or a draw from V's posterior "
                        "(what M was trained on and the dream gives C)")
    args = parser.parse_args()
    t0 = time.time()
    world = WorldModel.load(args.run_dir, "cpu")
    game, run = world.game, RunDir(args.run_dir)
    if "follow" not in game.exploration_policies:
        raise ValueError(f"{world.env} has no ball follower to imitate; its exploration: {', '.join(game.exploration_policies)}")
    own = world.controller_inputs
    if own not in FORMS:
        raise ValueError(f"{args.run_dir}: C reads {own}; this fit builds {', '.join(FORMS.values())} only")
    spec = ControllerSpec.for_game(game, world.obs_dim)
    paths, latents = list_episodes(run.episodes), load_latents(run.latents)
    if len(paths) != len(latents):
        raise ValueError(f"{args.run_dir}: {len(paths)} episodes but {len(latents)} encoded; run scripts/encode.py first")
    xs, ys, held = [], [], []
    noise = np.random.default_rng(args.seed)
    by_length = np.argsort([len(lat.actions) for lat in latents], kind="stable")  # little padding in a chunk
    for start in tqdm(range(0, len(paths), 32), desc="relabel", unit="32 episodes"):
        chunk = sorted(by_length[start : start + 32])
        frames = [load_episode(paths[i], keys=("frames", "actions")).frames for i in chunk]
        for i, labels in zip(chunk, follower_labels(game, frames)):
            ys.append(torch.from_numpy(labels))
            lat = latents[i]
            z = lat.mu if args.z == "mean" else draw_z(lat.mu, lat.logvar, noise)
            xs.append(input_parts(world, z, lat.actions, lat.rewards))
            held.append(torch.full((len(labels),), bool(i % 20 == 0)))
    y, held = torch.cat(ys).long(), torch.cat(held)
    parts = {name: torch.cat([x[name] for x in xs]) for name in xs[0]}
    labelled = time.time() - t0
    print(f"{world.env}: {len(paths)} episodes, {len(y):,} frames ({int(held.sum()):,} held out, every 20th episode); "
          f"relabelled and encoded in {labelled:.0f} s; CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for form in [own] + [form for form in args.compare if form != own]:
        t1 = time.time()
        x = torch.cat([parts[name] for name in form], dim=-1)
        w, b = fit_linear(x[~held], y[~held], spec.out_dim, args.steps, args.seed)
        pred = (x[held] @ w.T + b).argmax(-1)
        truth = y[held]
        print(f"C on {FORMS[form]} ({x.shape[1]} inputs), fitted in {time.time() - t1:.0f} s: "
              f"held-out accuracy {(pred == truth).float().mean():.3f} (z: {args.z})")
        for k, label in enumerate(game.action_labels):
            chosen = truth == k
            if chosen.any():
                print(f"  {label}: {int(chosen.sum()):,} frames, recall {(pred[chosen] == k).float().mean():.3f}")
        if form == own:
            params = torch.cat([w.reshape(-1), b]).numpy()
        if args.mlp:
            t1 = time.time()
            net = fit_mlp(x[~held], y[~held], spec.out_dim, args.steps, args.seed, args.mlp)
            with torch.no_grad():
                right = (net(x[held]).argmax(-1) == truth).float().mean()
            print(f"  through {args.mlp} hidden ReLU units instead, fitted in {time.time() - t1:.0f} s: "
                  f"held-out accuracy {right:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    save_controller(args.out / "controller.pt", world.env, spec, params,
                    {"temperature": run.load_config().controller.temperature,
                     "fitted_to": f"the exact follower's actions (benchmarks/imitate_follower.py, z {args.z})"})
    print(f"saved {args.out / 'controller.pt'}")
    return 0


if __name__ == "__main__":
    run_main(main)
