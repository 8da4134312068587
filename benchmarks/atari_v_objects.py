"""Does V keep what matters in Atari frames? For a run's V on its held-out episodes (V's own
validation split): the reconstruction error on the whole frame beside the error on the
foreground (pixels that differ from the game's background, the held-out frames' median), the
share of foreground pixels V's reconstruction draws (closer to the frame than to the
background), and linear probes that read object positions from z: ridge regression from V's mean
z to each object's centre, fitted on training frames and scored on held-out ones (R^2 pooled over
row and column, and the error in pixels beside the spread of the position). Object
positions come from the frames themselves: NAME:COLOUR@ROWS,COLUMNS takes the pixels of that
colour (R,G,B; or "any": every foreground pixel) inside that box of the 64x64 frame.

For a V with keypoints (vae.keypoints), a second table says which object each keypoint follows:
the correlation of its x with each object's column and of its y with the object's row, on the
held-out frames that show the object, beside how much the position moves (its std in [-1, 1]).

With --m, a third table asks what C can read: the same probes from M's LSTM state h and from
[z, h] (C's input), on whole episodes, h as C sees it at each step (M run over the episode's z
and actions from a zero state): if h holds the ball's position where z does not, a linear C on
[z, h] can find it.

With --gamegan NAME the probes read GameGAN's encoded frame s_t (checkpoints/NAME.pt, on
GameGAN's held-out episodes) instead of V's z: does the dynamics engine see the objects at all?

    python benchmarks/atari_v_objects.py --run-dir runs/atari-pong-default
    python benchmarks/atari_v_objects.py --run-dir DIR --objects ball:any@10-58,12-51 player:92,186,92@10-58,52-63
    python benchmarks/atari_v_objects.py --run-dir DIR --m --objects ball:any@31-55,5-58 paddle:200,72,72@56-60,4-59
    python benchmarks/atari_v_objects.py --run-dir DIR --gamegan gamegan --objects paddle:200,72,72@56-60,4-59
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldsim.apps.cli import run_main
from worldsim.data.episodes import list_episodes, load_episode, split_episodes
from worldsim.data.frames import foreground_mask, object_centres, parse_object
from worldsim.models.gamegan import load_gamegan
from worldsim.models.mdnrnn import load_mdnrnn, running_score
from worldsim.models.vae import frames_to_tensor, load_vae, tensor_to_frames
from worldsim.run import RunDir, resolve_device

PONG_OBJECTS = ("ball:any@10-58,12-51", "player:92,186,92@10-58,52-63", "opponent:213,130,74@10-58,0-11")
"""Pong at 64x64: the ball (blended into the field by the resize, so any foreground pixel between
the paddles' columns, below the top wall and above the bottom one), the agent's green paddle on
the right and the opponent's orange one on the left (the scores above are the same colours)."""


def foreground_scores(frames: np.ndarray, recon: np.ndarray, background: np.ndarray) -> dict:
    """Whole-frame and foreground MSE (values in [0, 1]), the share of foreground pixels the
    reconstruction draws (closer to the frame than to the background there), and the share of
    background pixels it paints as foreground (a V that hedges, drawing a paddle as a stripe down
    every row it may be in, draws the paddle but paints the stripe)."""
    f, r, b = (x.astype(np.float64) / 255 for x in (frames, recon, background[None]))
    mask = foreground_mask(frames, background)
    painted = foreground_mask(recon, background) & ~mask  # objects drawn where the frame has none
    to_frame = ((r - f) ** 2).sum(-1)
    to_background = ((r - b) ** 2).sum(-1)
    return {"mse": float(((r - f) ** 2).mean()),
            "foreground_mse": float(((r - f) ** 2)[mask].mean()) if mask.any() else float("nan"),
            "foreground_share": float(mask.mean()),
            "foreground_drawn": float((to_frame < to_background)[mask].mean()) if mask.any() else float("nan"),
            "background_painted": float(painted.sum() / max(1, (~mask).sum()))}


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A ridge regression from x (n, d) to y (n, k): weights (d, k) and bias (k,), y ~ x @ w + b."""
    mean_x, mean_y = x.mean(0), y.mean(0)
    a, b = x - mean_x, y - mean_y
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ b)
    return w, mean_y - mean_x @ w


def ridge_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                alpha: float = 1.0) -> dict[str, float]:
    """A ridge regression from x to positions y (n, k), fitted on the training set and scored on
    the test set: r2, the share of the positions' variance it explains, pooled over the k
    coordinates (so a paddle's fixed column, with next to no variance, neither helps nor hurts),
    and rmse, the distance from prediction to truth (pixels for positions in pixels)."""
    w, bias = ridge_fit(x_train, y_train, alpha)
    pred = x_test @ w + bias
    residual = ((y_test - pred) ** 2).sum()
    total = ((y_test - y_test.mean(0)) ** 2).sum()
    return {"r2": float(1 - residual / max(total, 1e-12)), "rmse": float(np.sqrt(residual / len(y_test)))}


def _frames(paths: list[Path], limit: int, rng: np.random.Generator) -> np.ndarray:
    frames = np.concatenate([load_episode(p, ("frames",)).frames for p in paths])
    return frames[rng.choice(len(frames), size=min(limit, len(frames)), replace=False)]


@torch.no_grad()
def _encode(vae, frames: np.ndarray, device, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    mus, recons = [], []
    for start in range(0, len(frames), batch):
        mu, _ = vae.encode(frames_to_tensor(frames[start : start + batch], device))
        mus.append(mu.cpu().numpy())
        recons.append(tensor_to_frames(vae.decode(mu)))
    return np.concatenate(mus), np.concatenate(recons)


@torch.no_grad()
def _read_frames(gamegan, frames: np.ndarray, device, batch: int = 256) -> np.ndarray:
    """GameGAN's encoded frames s_t (n, hidden), as its dynamics engine's gates read them."""
    return np.concatenate([gamegan.dynamics.read_frame(frames_to_tensor(frames[i : i + batch], device)).cpu().numpy()
                           for i in range(0, len(frames), batch)])


@torch.no_grad()
def _episode_states(vae, mdnrnn, paths: list[Path], limit: int, rng: np.random.Generator,
                    device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole episodes, in random order until `limit` frames: their frames, V's mean z of each, and
    M's h as C reads it beside z_t (the LSTM's output after z_0..z_t-1 and a_0..a_t-1; zeros at
    t = 0)."""
    frames, zs, hs, count = [], [], [], 0
    for path in rng.permutation(np.array(paths, dtype=object)):
        episode = load_episode(path)
        z, _ = _encode(vae, episode.frames, device)
        z_t = torch.as_tensor(z, device=device)
        actions = torch.as_tensor(episode.actions, device=device)
        score = torch.as_tensor(running_score(episode.rewards), device=device) if mdnrnn.score_scale else None
        frames.append(episode.frames)
        zs.append(z)
        hs.append(mdnrnn.h_before(z_t, actions, score).cpu().numpy())
        count += len(episode.frames)
        if count >= limit:
            break
    return np.concatenate(frames), np.concatenate(zs), np.concatenate(hs)


def split_states(vae, run: RunDir, env: str, paths: tuple[list[Path], list[Path]], limit: int,
                 device) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """_episode_states (frames, z, h) of the training and the held-out episodes (`paths`), with
    the run's M."""
    mdnrnn, _ = load_mdnrnn(run.mdnrnn_checkpoint, env=env, device=device)
    rng = np.random.default_rng(1)
    train, held = (_episode_states(vae, mdnrnn, p, limit, rng, device) for p in paths)
    return train, held


def print_state_probes(vae, run: RunDir, env: str, paths: tuple[list[Path], list[Path]], limit: int,
                       objects: list[str], background: np.ndarray, device) -> None:
    """Probe R^2 (held out) of each object's position from z, from M's h and from [z, h]."""
    train, held = split_states(vae, run, env, paths, limit, device)
    print("\n| object | frames showing it (train / held out, whole episodes) | probe R^2 from z | from h "
          "| from [z, h] (C's input) |")
    print("|---|---:|---:|---:|---:|")
    for spec in objects:
        name, rgb, box = parse_object(spec)
        (y_train, seen_train), (y_held, seen_held) = (object_centres(f, rgb, box, background) for f, _, _ in (train, held))
        if seen_train.sum() < 10 or seen_held.sum() < 10:
            print(f"| {name} | {seen_train.sum()} / {seen_held.sum()} | too few | | |")
            continue
        r2 = [ridge_probe(x_train[seen_train], y_train[seen_train], x_held[seen_held], y_held[seen_held])["r2"]
              for x_train, x_held in ((train[1], held[1]), (train[2], held[2]),
                                      (np.hstack(train[1:]), np.hstack(held[1:])))]
        print(f"| {name} | {seen_train.sum()} / {seen_held.sum()} | " + " | ".join(f"{v:.3f}" for v in r2) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--objects", nargs="+", default=list(PONG_OBJECTS), metavar="NAME:R,G,B")
    parser.add_argument("--frames", type=int, default=4000, help="frames drawn from each split (default 4000)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gamegan", metavar="NAME",
                        help="probe GameGAN checkpoints/NAME.pt's encoded frame, not V's z")
    parser.add_argument("--m", action="store_true", help="also probe from M's h and [z, h], C's input")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    device = resolve_device(args.device)
    fraction = cfg.gamegan.val_fraction if args.gamegan else cfg.vae.val_fraction
    train_paths, val_paths = split_episodes(list_episodes(run.episodes), fraction, cfg.seed)
    rng = np.random.default_rng(0)
    train, held = _frames(train_paths, args.frames, rng), _frames(val_paths, args.frames, rng)
    background = np.median(held, axis=0).astype(np.uint8)
    where = f"on {len(held)} held-out frames ({len(val_paths)} episodes), " \
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    if args.gamegan:
        gamegan, _ = load_gamegan(run.gamegan_checkpoint(args.gamegan), env=cfg.env, device=device)
        z_train, z_held = _read_frames(gamegan, train, device), _read_frames(gamegan, held, device)
        read = "s_t"
        print(f"{cfg.env}: GameGAN {args.gamegan}'s encoded frame s_t ({z_train.shape[1]} values) {where}")
    else:
        vae = load_vae(run.vae_checkpoint, env=cfg.env, device=device)
        z_train, _ = _encode(vae, train, device)
        z_held, recon = _encode(vae, held, device)
        read = "z"
        scores = foreground_scores(held, recon, background)
        print(f"{cfg.env}: V (z {vae.z_dim}) {where}")
        print("| whole-frame MSE | foreground MSE | foreground share of pixels | foreground pixels V draws "
              "| background pixels V paints |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {scores['mse']:.5f} | {scores['foreground_mse']:.5f} | {scores['foreground_share']:.4f} "
              f"| {scores['foreground_drawn']:.3f} | {scores['background_painted']:.4f} |")
    print(f"\n| object | frames showing it (train / held out) | probe R^2 from {read}, held out | probe error (px) "
          "| spread of its position (px) |")
    print("|---|---:|---:|---:|---:|")
    held_centres = {}
    for spec in args.objects:
        name, rgb, box = parse_object(spec)
        y_train, seen_train = object_centres(train, rgb, box, background)
        y_held, seen_held = object_centres(held, rgb, box, background)
        held_centres[name] = (y_held, seen_held)
        if seen_train.sum() < 10 or seen_held.sum() < 10:
            print(f"| {name} | {seen_train.sum()} / {seen_held.sum()} | too few | | |")
            continue
        probe = ridge_probe(z_train[seen_train], y_train[seen_train], z_held[seen_held], y_held[seen_held])
        spread = float(np.sqrt(((y_held[seen_held] - y_held[seen_held].mean(0)) ** 2).sum(1).mean()))
        print(f"| {name} | {seen_train.sum()} / {seen_held.sum()} | {probe['r2']:.3f} | {probe['rmse']:.1f} "
              f"| {spread:.1f} |")
    if not args.gamegan and vae.keypoints:
        print_keypoints(z_held, vae.keypoints, held_centres)
    if args.m and not args.gamegan:
        print_state_probes(vae, run, cfg.env, (train_paths, val_paths), args.frames, args.objects, background, device)
    return 0


def print_keypoints(z: np.ndarray, keypoints: int, centres: dict) -> None:
    """Which object each keypoint follows: per keypoint, its x's correlation with each object's
    column and its y's with the object's row (held-out frames showing the object), and the std of
    x and y. centres: name -> (positions (n, 2) as row, column; shown (n,) bool)."""
    names = list(centres)
    print("\n| keypoint | std of x / y | " + " | ".join(f"corr with {n}: column / row" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for k in range(keypoints):
        x, y = z[:, 2 * k], z[:, 2 * k + 1]
        cells = []
        for name in names:
            rows_cols, shown = centres[name]
            if shown.sum() < 10 or x[shown].std() == 0 or y[shown].std() == 0:
                cells.append("–")
                continue
            cells.append(f"{np.corrcoef(x[shown], rows_cols[shown, 1])[0, 1]:+.2f} / "
                         f"{np.corrcoef(y[shown], rows_cols[shown, 0])[0, 1]:+.2f}")
        print(f"| {k} | {x.std():.3f} / {y.std():.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_main(main)
