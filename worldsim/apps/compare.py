"""GameGAN against V+M on the same held-out clips (issue 4): how closely each model follows the
real game from a real first frame and the real actions, whether its transitions show the action
taken, and whether it remembers what it showed before turning away.

Three measurements, each the same for every model:

* open loop: from the real x_0 and the real actions a_0..a_{T-1}, each model generates x_1..x_T
  on its own (GameGAN with noise z_t = 0; V+M: V's mean of x_0, M at temperature 0, V's decoder);
  per-step PSNR and SSIM against the real frames. One step (every step reads the real x_t) is
  reported beside it.
* action conditioning: a small CNN learns to tell a_t from real pairs (x_t, x_{t+k}) of training
  episodes (k = 1: plain transitions; k > 1, default 4: windows where a_t is held k steps); its
  accuracy on held-out real pairs is the reference for its accuracy on each model's generated
  pairs (from real: x_{t+k} generated from the real x_t; open loop: both frames from the clip's
  rollout).
* memory (the GameGAN paper's test): from real frames, N steps left then N steps right; the pixel
  error between x_0 and x_N (how far the view went) and between x_0 and x_2N (how well it came
  back), with the real game's own change over the same actions as the reference.

Held-out clips come from the episodes GameGAN training holds out (split_episodes with
gamegan.val_fraction and the run's seed), spread over episodes and over time within them.
Generated frames are rounded to uint8, as a player sees them, before they are measured."""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Protocol
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import envs
from worldsim.config import Config
from worldsim.data.clips import ClipPool
from worldsim.data.episodes import iter_valid_episodes, list_episodes
from worldsim.data.frames import split_episodes
from worldsim.io import atomic_write_with, write_json
from worldsim.media import image_grid, save_png, save_video, upscale
from worldsim.metrics import mse, psnr, psnr_of_mse, ssim
from worldsim.run import RunDir, RunDirError

DEFAULT_GAMEGANS = ("gamegan", "gamegan_nomemory")
"""GameGAN checkpoints compared by default, when the run has them (checkpoints/NAME.pt)."""
VM = "vm"
"""The name of V+M among the models."""
HORIZONS = (1, 8, 16, 32)


@dataclass
class CompareSettings:
    clips: int = 64
    """held-out clips for the open-loop errors and the classifier's held-out pairs"""
    horizon: int = 32
    """transitions per clip (clips have horizon + 1 frames)"""
    batch: int = 16
    """clips per model call"""
    classifier_steps: int = 600
    """training steps of the action classifier"""
    classifier_batch: int = 64
    classifier_episodes: int = 64
    """training episodes the classifier's pairs are drawn from"""
    classifier_stride: int = 4
    """k: the classifier reads pairs (x_t, x_{t+k}) over windows where one action is held k steps.
    In Doom (one tic a step, with momentum) a single step barely shows its action: on real held-out
    pairs k = 1 gave 0.48 accuracy against a 0.41 majority class, k = 4 gave 0.81 against 0.43."""
    memory_steps: int = 8
    """N: the memory check goes N steps left, then N steps right"""
    memory_starts: int = 16
    """real start frames of the memory check (held-out clip starts)"""
    memory_actions: tuple[int, int] | None = None
    """(left, right) action indices; None: the game's own (Doom TakeCover 0, 2)"""
    real_seeds: int = 4
    """real-game episodes for the memory check's reference (0: skip the real game)"""
    video_clips: int = 4
    fps: int = 8
    video_format: str = "gif"
    seed: int = 0


# ----------------------------------------------------------------------------- models


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float frames in [0, 1] -> uint8, rounded as a player sees them."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


class Predictor(Protocol):
    """One world model behind the comparison's interface. Frames are float (..., 3, 64, 64) in [0, 1]."""

    name: str
    info: dict

    def open_loop(self, first: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """x_0 (B, 3, 64, 64), actions (B, T) -> generated x_1..x_T (B, T, 3, 64, 64), reading its own frames."""

    def one_step(self, frames: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Real x_0..x_{T-1} (B, >=T, 3, 64, 64), actions (B, T) -> x_1..x_T, every step reading the real x_t."""


class GameGANPredictor:
    def __init__(self, name: str, model, meta: dict, path: Path):
        self.name, self.model = name, model
        history = meta.get("history", {}).get("latest", {})
        self.info = {"kind": "gamegan", "checkpoint": str(path), "memory": model.config.memory,
                     "renderer": model.config.renderer, "hidden": model.config.hidden,
                     "trained_steps": history.get("step", 0)}

    def _noise(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*actions.shape[:2], self.model.config.noise_dim, device=actions.device)

    @torch.no_grad()
    def open_loop(self, first, actions):
        return self.model.rollout(first[:, None], actions, 1, self._noise(actions))["frames"]

    @torch.no_grad()
    def one_step(self, frames, actions):
        return self.model.rollout(frames, actions, actions.shape[1], self._noise(actions))["frames"]


class VMPredictor:
    """V+M at temperature 0: V's mean of x_0, M's most likely component's mean each step, V's decoder."""

    def __init__(self, world):
        self.name, self.world = VM, world
        self.info = {"kind": "vm", "temperature": 0.0, "z_dim": world.z_dim, "hidden": world.mdnrnn.hidden}

    @torch.no_grad()
    def open_loop(self, first, actions):
        from worldsim.dream import BatchedDream

        dream = BatchedDream(self.world, len(first), temperature=0.0)
        dream.reset_to_latents(self.world.vae.encode(first)[0])
        out = []
        for t in range(actions.shape[1]):
            dream.step(actions[:, t])
            out.append(dream.render().permute(0, 3, 1, 2))
        return torch.stack(out, dim=1).float().div(255.0)

    @torch.no_grad()
    def one_step(self, frames, actions):
        b, steps = actions.shape[:2]
        mu = self.world.vae.encode(frames[:, :steps].flatten(0, 1))[0].view(b, steps, -1)
        out, _ = self.world.mdnrnn(mu, actions)
        z = out.mu.gather(-1, out.logpi.argmax(dim=-1, keepdim=True)).squeeze(-1)  # (B, T, z_dim)
        return self.world.vae.decode(z.flatten(0, 1)).view(b, steps, 3, 64, 64)

    @torch.no_grad()
    def reconstruct(self, frames):
        """V's picture of real frames (..., 3, 64, 64): the best V+M can show."""
        flat = frames.flatten(0, -4)
        return self.world.vae.decode(self.world.vae.encode(flat)[0]).view(frames.shape)


def available_models(run: RunDir) -> list[str]:
    """The default GameGAN checkpoints the run has, and V+M when it has both checkpoints."""
    names = [n for n in DEFAULT_GAMEGANS if run.gamegan_checkpoint(n).is_file()]
    if run.vae_checkpoint.is_file() and run.mdnrnn_checkpoint.is_file():
        names.append(VM)
    return names


def load_predictors(run: RunDir, cfg: Config, names: list[str] | None, device) -> list[Predictor]:
    """Load the named models (None: available_models); a missing one is a RunDirError saying how to make it."""
    from worldsim.models.gamegan import load_gamegan
    from worldsim.world_model import WorldModel

    if names is None:
        names = available_models(run)
        if not names:
            raise RunDirError(
                f"{run.root} has no model to compare: no checkpoints/{{{','.join(DEFAULT_GAMEGANS)}}}.pt and no "
                f"V+M (vae.pt and mdnrnn.pt); train one with scripts/train_gamegan.py or scripts/train_world_model.py")
    if len(set(names)) != len(names):
        raise ValueError(f"--models lists a model twice: {' '.join(names)}")
    predictors: list[Predictor] = []
    for name in names:
        if name == VM:
            predictors.append(VMPredictor(WorldModel.load(run.root, device)))
            continue
        path = run.gamegan_checkpoint(name)
        if not path.is_file():
            have = ", ".join(p.stem for p in sorted(run.checkpoints.glob("*.pt"))) or "none"
            raise RunDirError(
                f"{path} not found (checkpoints here: {have}); train it with `python scripts/train_gamegan.py "
                f"--run-dir {run.root} --gamegan.name {name}`, or use --models {VM} for V+M")
        model, meta = load_gamegan(path, env=cfg.env, device=device)
        predictors.append(GameGANPredictor(name, model, meta, path))
    return predictors


# ----------------------------------------------------------------------------- data


@dataclass
class HeldOut:
    frames: torch.Tensor  # (n, T+1, 3, 64, 64) uint8
    actions: torch.Tensor  # (n, T)
    val_paths: list[Path]
    train_paths: list[Path]


def heldout_clips(run: RunDir, cfg: Config, clips: int, horizon: int, seed: int = 0) -> HeldOut:
    """`clips` clips of horizon+1 frames from the episodes GameGAN training holds out: episodes
    spread evenly over the held-out ones (all of them, in turn, when there are fewer than
    `clips`), each clip at a random start (seeded) within its episode, so that clips are not all
    episode openings."""
    paths = list_episodes(run.episodes)
    if not paths:
        raise RunDirError(f"{run.root} has no recorded episodes")
    train, val = split_episodes(paths, cfg.gamegan.val_fraction, cfg.seed)
    eligible = [p for p, ep in iter_valid_episodes(val, ("actions",)) if len(ep.actions) >= horizon]
    if not eligible:
        raise ValueError(f"no held-out episode has {horizon} transitions for a clip; lower --horizon")
    if clips <= len(eligible):
        chosen = [eligible[i] for i in spread(len(eligible), clips)]
    else:
        chosen = [eligible[i % len(eligible)] for i in range(clips)]
    need = sorted(set(chosen))
    pool = ClipPool.load(need, horizon)
    index = {p: i for i, p in enumerate(need)}
    rng = np.random.default_rng(seed)
    picked = [pool.clip(index[p], int(rng.integers(0, pool.starts[index[p]]))) for p in chosen]
    frames = torch.as_tensor(np.stack([f for f, _ in picked])).permute(0, 1, 4, 2, 3).contiguous()
    return HeldOut(frames, torch.as_tensor(np.stack([a for _, a in picked])), val, train)


def heldout_overlap(run: RunDir, cfg: Config, val_paths: list[Path]) -> dict:
    """How many held-out episodes V's and M's splits put in their training sets: V+M may have
    trained on those, GameGAN never did. Computed from the run's current episodes: exact for M's
    last training (iterate rounds re-split, so earlier rounds may have seen more: a lower bound),
    and for V only when no iterate round has added episodes since V was trained (else None)."""
    from worldsim.training.mdnrnn import split_latents

    held = {p.name for p in val_paths}
    latents = sorted(p.name for p in run.latents.glob("ep_*.npz"))
    m_train, _ = split_latents(latents, cfg.mdnrnn.val_fraction, cfg.seed) if len(latents) > 1 else ([], [])
    iterated = any(name.startswith("iterate_") for name in run.report().get("stages", {}))
    v_train = None
    if not iterated:
        v_train, _ = split_episodes(list_episodes(run.episodes), cfg.vae.val_fraction, cfg.seed)
    return {"heldout_episodes": len(held),
            "in_vae_train_split": None if v_train is None else len(held & {p.name for p in v_train}),
            "in_mdnrnn_train_split_at_least": len(held & set(m_train))}


def _batched(fn: Callable[..., torch.Tensor], tensors: tuple[torch.Tensor, ...], batch: int, device,
             desc: str, progress: bool) -> torch.Tensor:
    """fn over batches of uint8/long CPU tensors moved to `device`; uint8 (rounded) results on the CPU."""
    out = []
    n = len(tensors[0])
    for start in tqdm(range(0, n, batch), desc=desc, unit="batch", disable=not progress, leave=False):
        args = [t[start : start + batch].to(device) for t in tensors]
        args = [a.float().div(255.0) if a.dtype == torch.uint8 else a for a in args]
        out.append(to_uint8(fn(*args)).cpu())
    return torch.cat(out)


# ----------------------------------------------------------------------------- open loop


def per_step_scores(pred: torch.Tensor, real: torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
    """uint8 (n, T, 3, H, W) each -> {'psnr', 'ssim', 'mse'}: (n, T) arrays."""
    scores = {"psnr": [], "ssim": [], "mse": []}
    flat_p, flat_r = pred.flatten(0, 1), real.flatten(0, 1)
    for start in range(0, len(flat_p), batch):
        p, r = flat_p[start : start + batch], flat_r[start : start + batch]
        scores["psnr"].append(psnr(p, r))
        scores["ssim"].append(ssim(p, r))
        scores["mse"].append(mse(p, r))
    return {k: torch.cat(v).view(pred.shape[:2]).numpy().astype(np.float64) for k, v in scores.items()}


def summarise(scores: dict[str, np.ndarray], horizons: list[int]) -> dict:
    """Per-step means over clips, and mean/std at each horizon."""
    out = {f"{k}_by_step": scores[k].mean(axis=0).round(5).tolist() for k in ("psnr", "ssim", "mse")}
    for k in ("psnr", "ssim"):
        out[f"{k}_at"] = {str(h): round(float(scores[k][:, h - 1].mean()), 4) for h in horizons}
        out[f"{k}_std_at"] = {str(h): round(float(scores[k][:, h - 1].std()), 4) for h in horizons}
    return out


# ----------------------------------------------------------------------------- action classifier


class ActionClassifier(nn.Module):
    """Which action turned x_t into x_{t+k}: a few strided convs over [x_t, x_{t+k}, 4 (x_{t+k} - x_t)]."""

    def __init__(self, n_actions: int, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(9, w, 5, stride=2, padding=2), nn.ReLU(),  # 32
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),  # 16
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),  # 8
            nn.Conv2d(4 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),  # 4
            nn.Flatten(), nn.Linear(64 * w, n_actions),
        )

    def forward(self, x: torch.Tensor, x_next: torch.Tensor) -> torch.Tensor:
        """Float frames (B, 3, 64, 64) in [0, 1] -> logits (B, n_actions)."""
        return self.net(torch.cat([x, x_next, 4 * (x_next - x)], dim=1))


def held_windows(actions: np.ndarray, k: int) -> np.ndarray:
    """Starts t of the windows a_t..a_{t+k-1} that repeat one action, in a (T,) action series."""
    actions = np.asarray(actions)
    if len(actions) < k:
        return np.zeros(0, dtype=np.int64)
    same = np.lib.stride_tricks.sliding_window_view(actions, k) == actions[: len(actions) - k + 1, None]
    return np.flatnonzero(same.all(axis=1))


@dataclass
class Transitions:
    """Episodes' frames and discrete actions. A sample is a pair (x_t, x_{t+k}) with its action a_t,
    drawn from the windows where a_t..a_{t+k-1} are one action held (k = 1: every transition)."""

    frames: list[np.ndarray]  # per episode (T+1, 64, 64, 3) uint8
    actions: list[np.ndarray]  # per episode (T,)

    @classmethod
    def load(cls, paths: list[Path], max_episodes: int, rng: np.random.Generator) -> Transitions:
        picked = [paths[i] for i in sorted(rng.permutation(len(paths))[:max_episodes])]
        frames, actions = [], []
        for _, ep in iter_valid_episodes(picked, ("frames", "actions")):
            if len(ep.actions):
                frames.append(ep.frames)
                actions.append(np.asarray(ep.actions).astype(np.int64))
        if not frames:
            raise ValueError("no training episode with a transition for the action classifier")
        return cls(frames, actions)

    def windows(self, k: int) -> np.ndarray:
        """(m, 2) array of (episode, t) for every held-action window of k steps."""
        found = [np.stack([np.full(len(t), e), t], axis=1) for e, a in enumerate(self.actions)
                 if len(t := held_windows(a, k))]
        if not found:
            raise ValueError(f"no training episode holds an action for {k} steps; lower --classifier-stride")
        return np.concatenate(found)

    def sample(self, rng: np.random.Generator, batch: int, windows: np.ndarray,
               k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch of `windows`, each equally likely -> x_t, x_{t+k} uint8 (B, 3, 64, 64), a_t (B,)."""
        pick = windows[rng.integers(0, len(windows), batch)]
        x = np.stack([self.frames[e][t] for e, t in pick])
        x_next = np.stack([self.frames[e][t + k] for e, t in pick])
        a = np.array([self.actions[e][t] for e, t in pick])
        return _chw(x), _chw(x_next), torch.as_tensor(a)


def _chw(frames: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(frames).permute(0, 3, 1, 2)


def train_action_classifier(data: Transitions, n_actions: int, steps: int, batch: int, device, stride: int = 1,
                            seed: int = 0, lr: float = 1e-3, progress: bool = True) -> tuple[ActionClassifier, dict]:
    """Train on pairs (x_t, x_{t+stride}) of `data` -> (classifier in eval mode, facts: 'train_accuracy'
    over the last 10% of steps, 'train_seconds', ...)."""
    rng = np.random.default_rng(seed)
    windows = data.windows(stride)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ActionClassifier(n_actions).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    t0, recent = time.perf_counter(), []
    model.train()
    for step in tqdm(range(steps), desc="action classifier", unit="step", disable=not progress, leave=False):
        x, x_next, a = (v.to(device) for v in data.sample(rng, batch, windows, stride))
        logits = model(x.float() / 255, x_next.float() / 255)
        loss = F.cross_entropy(logits, a)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps - max(1, steps // 10):
            recent.append((logits.argmax(-1) == a).float().mean().item())
    model.eval()
    return model, {"train_accuracy": round(float(np.mean(recent)), 4) if recent else None,
                   "train_seconds": round(time.perf_counter() - t0, 1), "train_episodes": len(data.frames),
                   "train_pairs": len(windows), "stride": stride, "steps": steps, "batch": batch}


@torch.no_grad()
def classifier_accuracy(model: ActionClassifier, x: torch.Tensor, x_next: torch.Tensor, actions: torch.Tensor,
                        device, batch: int = 256) -> float:
    """Share of pairs (uint8 (..., 3, 64, 64) each) whose action (...) the classifier names."""
    x, x_next, actions = x.flatten(0, -4), x_next.flatten(0, -4), actions.flatten()
    right = 0
    for start in range(0, len(x), batch):
        logits = model(x[start : start + batch].to(device).float() / 255,
                       x_next[start : start + batch].to(device).float() / 255)
        right += (logits.argmax(-1).cpu() == actions[start : start + batch]).sum().item()
    return right / max(1, len(x))


def action_conditioning(predictors: list[Predictor], held: HeldOut, open_loop: dict[str, torch.Tensor],
                        n_actions: int, s: CompareSettings, device, progress: bool = True) -> dict:
    """Train the classifier on training episodes' real pairs (x_t, x_{t+k}), k = s.classifier_stride,
    over windows holding one action; its accuracy on the held-out clips' pairs: real, each model's
    'from_real' (x_{t+k} generated from the real x_t, the model started afresh there) and
    'open_loop' (x_t and x_{t+k} both taken from the open-loop rollout of the clip)."""
    k = s.classifier_stride
    data = Transitions.load(held.train_paths, s.classifier_episodes, np.random.default_rng(s.seed))
    classifier, stats = train_action_classifier(data, n_actions, s.classifier_steps, s.classifier_batch, device,
                                                k, s.seed, progress=progress)
    del data
    found = [(c, t) for c in range(len(held.actions)) for t in held_windows(held.actions[c].numpy(), k)]
    if not found:
        return {"skipped": f"no held-out clip holds an action for {k} steps", **stats}
    clip, t = (torch.as_tensor(v) for v in zip(*found))
    actions = held.actions[clip, t]
    counts = np.bincount(actions.numpy(), minlength=n_actions)
    acc = {"real": classifier_accuracy(classifier, held.frames[clip, t], held.frames[clip, t + k], actions, device)}
    window_actions = held.actions[clip[:, None], t[:, None] + torch.arange(k)]  # (m, k)
    for p in predictors:
        gen = _batched(p.open_loop, (held.frames[clip, t], window_actions), s.batch * 8, device,
                       f"{p.name} from real", progress)
        acc[f"{p.name} from_real"] = classifier_accuracy(classifier, held.frames[clip, t], gen[:, -1], actions, device)
        path = torch.cat([held.frames[:, :1], open_loop[p.name]], dim=1)
        acc[f"{p.name} open_loop"] = classifier_accuracy(classifier, path[clip, t], path[clip, t + k], actions, device)
    return {"accuracy": {name: round(v, 4) for name, v in acc.items()}, "chance": round(1 / n_actions, 4),
            "majority": round(float(counts.max() / counts.sum()), 4), "heldout_pairs": len(actions),
            "heldout_action_counts": counts.tolist(), **stats}


# ----------------------------------------------------------------------------- memory


def memory_actions(game: envs.GameInfo, given: tuple[int, int] | None) -> tuple[int, int]:
    """The actions the memory check goes out and back with: `given`, else the game's first pair
    of opposite actions (game.opposite_actions)."""
    if given is not None:
        return tuple(given)
    if not game.opposite_actions:
        raise ValueError(f"no left/right actions known for {game.name}; give them with --memory-actions LEFT RIGHT")
    return tuple(game.opposite_actions[0])


def out_and_back(frames: torch.Tensor, n: int) -> dict:
    """uint8 (k, 2n+1, 3, H, W) paths x_0..x_2n (x_0 real) -> errors against x_0 of x_n (out) and
    x_2n (back); and 'own_back_mse' of x_2n-1 against x_1, two frames at the same place that are
    both the model's own (free of its gap in drawing the real x_0)."""
    start, out, back = frames[:, 0], frames[:, n], frames[:, 2 * n]
    out_mse, back_mse = mse(out, start).mean().item(), mse(back, start).mean().item()
    own = mse(frames[:, 2 * n - 1], frames[:, 1]).mean().item()
    return {"out_mse": round(out_mse, 6), "back_mse": round(back_mse, 6),
            "out_psnr": round(psnr_of_mse(out_mse), 3), "back_psnr": round(psnr_of_mse(back_mse), 3),
            "back_ssim": round(ssim(back, start).mean().item(), 4),
            "back_over_out": round(back_mse / max(out_mse, 1e-12), 4),
            "own_back_mse": round(own, 6), "starts": len(frames)}


def real_game_paths(env: str, sequence: list[int], seeds: list[int], progress: bool = True) -> torch.Tensor:
    """The real game from reset(seed) for each seed, playing `sequence` -> uint8 (k, len+1, 3, H, W);
    episodes that end before the sequence does are left out."""
    game = envs.make(env)
    paths = []
    try:
        for seed in tqdm(seeds, desc="real game", unit="episode", disable=not progress, leave=False):
            obs, _ = game.reset(seed=int(seed))
            frames = [obs]
            for a in sequence:
                obs, _, terminated, truncated, _ = game.step(a)
                if terminated or truncated:
                    break
                frames.append(obs)
            if len(frames) == len(sequence) + 1:
                paths.append(np.stack(frames))
    finally:
        game.close()
    if not paths:
        return torch.zeros(0, len(sequence) + 1, 3, 64, 64, dtype=torch.uint8)
    return torch.as_tensor(np.stack(paths)).permute(0, 1, 4, 2, 3).contiguous()


# ----------------------------------------------------------------------------- pictures


def labelled(grid_rows: list[np.ndarray], labels: list[str], scale: int = 2, gap: int = 2,
             label_width: int = 96) -> np.ndarray:
    """image_grid of rows of uint8 (N, H, W, 3) frames with each row's label on the left."""
    import cv2

    grid = image_grid(grid_rows, scale=1, gap=gap)
    h = grid_rows[0].shape[1]
    column = np.full((grid.shape[0], label_width, 3), 255, dtype=np.uint8)
    for i, text in enumerate(labels):
        y = i * (h + gap) + h // 2 + 3
        cv2.putText(column, text[:16], (2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1, cv2.LINE_AA)
    return upscale(np.concatenate([column, grid], axis=1), scale)


def hwc(frames: torch.Tensor) -> np.ndarray:
    """uint8 (..., 3, H, W) -> numpy (..., H, W, 3)."""
    return frames.movedim(-3, -1).numpy()


ERROR_GAIN = 4
"""The videos show |generated - real| times this (clipped), so that small errors are visible."""


def error_frames(a: torch.Tensor, b: torch.Tensor, gain: int = ERROR_GAIN) -> torch.Tensor:
    """gain * |a - b| of uint8 frames, clipped, as uint8 frames."""
    return ((a.int() - b.int()).abs() * gain).clamp(max=255).to(torch.uint8)


def open_loop_video(real: torch.Tensor, generated: dict[str, torch.Tensor], picks: list[int]) -> np.ndarray:
    """Rows real / each model / its error (x ERROR_GAIN), a column per picked clip, one video frame per step ->
    uint8 (T+1, H', W', 3). real (n, T+1, 3, 64, 64), generated[name] (n, T, 3, 64, 64)."""
    steps = real.shape[1]
    video = []
    for t in range(steps):
        rows, labels = [hwc(real[picks, t])], ["real"]
        for name, gen in generated.items():
            g = real[picks, 0] if t == 0 else gen[picks, t - 1]
            rows += [hwc(g), hwc(error_frames(g, real[picks, t]))]
            labels += [name, f"|error| x{ERROR_GAIN}"]
        frame = labelled(rows, labels)
        cv2_text(frame, f"t={t}")
        video.append(frame)
    return np.stack(video)


def cv2_text(image: np.ndarray, text: str) -> None:
    import cv2

    cv2.putText(image, text, (4, image.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 0, 0), 1, cv2.LINE_AA)


def horizon_plot(open_loop: dict[str, dict], horizons: list[int]) -> bytes:
    """PNG bytes: PSNR and SSIM against the step for every model (references dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, unit in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for name, result in open_loop.items():
            values = result[f"{key}_by_step"]
            style = "--" if result.get("reference") else "-"
            ax.plot(range(1, len(values) + 1), values, style, label=name, marker="." if len(values) < 40 else None)
        for h in horizons:
            ax.axvline(h, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel("open-loop step (from the real first frame)")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Held-out clips: generated frame vs real frame, same first frame and actions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------------- the comparison


def spread(n: int, k: int) -> list[int]:
    """Up to k indices spread evenly over range(n)."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n))}) if n else []


def compare(run_dir: str | Path, models: list[str] | None = None, settings: CompareSettings | None = None,
            out: str | Path | None = None, device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Run the three measurements on a run's models; write compare.json, horizon.png,
    open_loop.{gif,mp4} and memory.png into `out` (default RUN/compare); return the results."""
    s = settings or CompareSettings()
    if min(s.horizon, s.clips, s.memory_steps, s.classifier_stride, s.classifier_steps, s.batch) < 1:
        raise ValueError("--horizon, --clips, --memory-steps, --classifier-stride, --classifier-steps and --batch "
                         "must be at least 1")
    t_start = time.perf_counter()
    run = RunDir(run_dir)
    cfg = run.load_config()
    out = Path(out) if out is not None else run.root / "compare"
    device = torch.device(device)
    game = envs.info(cfg.env)
    discrete = game.discrete
    left_right = memory_actions(game, s.memory_actions) if discrete else None
    predictors = load_predictors(run, cfg, models, device)
    held = heldout_clips(run, cfg, s.clips, s.horizon, s.seed)
    n, steps = held.actions.shape[:2]
    horizons = [h for h in HORIZONS if h <= steps] or [steps]
    if steps not in horizons and steps > max(horizons):
        horizons.append(steps)
    real_next = held.frames[:, 1:]
    results: dict = {
        "run_dir": str(run.root), "env": cfg.env, "clips": n, "horizon": steps, "horizons": horizons,
        "settings": asdict(s), "device": str(device),
        "heldout": {"split": f"split_episodes(gamegan.val_fraction={cfg.gamegan.val_fraction}, seed={cfg.seed})",
                    "episodes": len(held.val_paths), "train_episodes": len(held.train_paths)},
        "models": {p.name: p.info for p in predictors},
    }
    if any(isinstance(p, VMPredictor) for p in predictors):
        results["heldout"]["vm_overlap"] = heldout_overlap(run, cfg, held.val_paths)

    # a. open loop and one step
    first = held.frames[:, 0]
    open_loop: dict[str, torch.Tensor] = {}
    one_step: dict[str, torch.Tensor] = {}
    for p in predictors:
        open_loop[p.name] = _batched(p.open_loop, (first, held.actions), s.batch, device, f"{p.name} open loop", progress)
        one_step[p.name] = _batched(p.one_step, (held.frames[:, :steps], held.actions), s.batch, device,
                                    f"{p.name} one step", progress)
    references = {"copy_first_frame": first[:, None].expand_as(real_next)}
    vm = next((p for p in predictors if isinstance(p, VMPredictor)), None)
    if vm is not None:
        references["vae_reconstruction"] = _batched(vm.reconstruct, (real_next,), s.batch, device, "V", progress)
    results["open_loop"] = {name: summarise(per_step_scores(gen, real_next), horizons)
                            for name, gen in open_loop.items()}
    for name, gen in references.items():
        results["open_loop"][name] = {**summarise(per_step_scores(gen, real_next), horizons), "reference": True}
    one = {name: per_step_scores(gen, real_next) for name, gen in one_step.items()}
    one["copy_last_frame"] = per_step_scores(held.frames[:, :steps], real_next)
    results["one_step"] = {name: {"psnr": round(float(v["psnr"].mean()), 4), "ssim": round(float(v["ssim"].mean()), 4),
                                  "mse": round(float(v["mse"].mean()), 6)} for name, v in one.items()}
    results["one_step"]["copy_last_frame"]["reference"] = True

    # b. action conditioning
    if discrete:
        results["action_classifier"] = action_conditioning(predictors, held, open_loop, game.num_actions, s, device,
                                                           progress)
    else:
        results["action_classifier"] = {"skipped": "continuous actions"}

    # c. memory
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    strip_rows, strip_labels = [], []
    if discrete:
        left, right = left_right
        k = s.memory_steps
        sequence = [left] * k + [right] * k
        picks = spread(n, s.memory_starts)
        starts = first[picks]
        memory = {"steps_each_way": k, "actions": [left, right], "models": {}}
        seq = torch.as_tensor(sequence).expand(len(picks), -1).contiguous()
        for p in predictors:
            gen = _batched(p.open_loop, (starts, seq), s.batch, device, f"{p.name} memory", progress)
            path = torch.cat([starts[:, None], gen], dim=1)
            memory["models"][p.name] = out_and_back(path, k)
            strip_rows.append(hwc(path[0]))
            strip_labels.append(p.name)
        if s.real_seeds > 0:
            seeds = list(range(10_000, 10_000 + s.real_seeds))
            real_paths = real_game_paths(cfg.env, sequence, seeds, progress)
            if len(real_paths):
                memory["real_game"] = {**out_and_back(real_paths, k), "seeds": seeds}
                strip_rows.append(hwc(real_paths[0]))
                strip_labels.append("real game*")
            else:
                memory["real_game"] = {"skipped": f"every episode ended within {2 * k} steps"}
        results["memory"] = memory
        save_png(out / "memory.png", labelled(strip_rows, strip_labels))
        files["memory_strip"] = "memory.png"
    else:
        results["memory"] = {"skipped": "continuous actions"}

    # pictures
    atomic_write_with(out / "horizon.png", lambda f: f.write(horizon_plot(results["open_loop"], horizons)))
    files["horizon_plot"] = "horizon.png"
    video = open_loop_video(held.frames, open_loop, spread(n, s.video_clips))
    name = f"open_loop.{s.video_format}"
    save_video(out / name, video, fps=s.fps)
    files["open_loop_video"] = name
    results["files"] = {**files, "results": "compare.json"}
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(out / "compare.json", results)
    return results


# ----------------------------------------------------------------------------- report


def markdown(results: dict) -> str:
    """The results as markdown tables."""
    lines = []
    horizons = [str(h) for h in results["horizons"]]
    held = results["heldout"]
    lines.append(f"Open loop on {results['clips']} clips of {held['episodes']} held-out {results['env']} episodes "
                 f"(same real x_0 and actions; * reference)")
    if "vm_overlap" in held:
        o = held["vm_overlap"]
        v = "unknown (episodes added since)" if o["in_vae_train_split"] is None else o["in_vae_train_split"]
        lines.append(f"(GameGAN never trained on them; of them V's split trained on {v}, "
                     f"M's on at least {o['in_mdnrnn_train_split_at_least']})")
    lines.append("")
    lines.append("| model | " + " | ".join(f"PSNR@{h}" for h in horizons) + " | "
                 + " | ".join(f"SSIM@{h}" for h in horizons) + " | one-step PSNR | one-step SSIM |")
    lines.append("|---" + "|---:" * (2 * len(horizons) + 2) + "|")
    for name, r in results["open_loop"].items():
        label = f"{name}*" if r.get("reference") else name
        one = results["one_step"].get(name)
        tail = f" {one['psnr']:.2f} | {one['ssim']:.3f} |" if one else "  |  |"
        lines.append(f"| {label} | " + " | ".join(f"{r['psnr_at'][h]:.2f}" for h in horizons) + " | "
                     + " | ".join(f"{r['ssim_at'][h]:.3f}" for h in horizons) + " |" + tail)
    copy = results["one_step"].get("copy_last_frame")
    if copy:
        lines.append("| copy_last_frame* |" + "  |" * (2 * len(horizons)) + f" {copy['psnr']:.2f} | {copy['ssim']:.3f} |")
    ac = results.get("action_classifier", {})
    if "accuracy" in ac:
        lines.append(f"\nAction classifier on {ac['heldout_pairs']} held-out pairs (x_t, x_t+{ac['stride']}), trained on "
                     f"real pairs of {ac['train_episodes']} training episodes ({ac['steps']} steps, train accuracy "
                     f"{ac['train_accuracy']:.3f}): chance {ac['chance']:.3f}, majority action {ac['majority']:.3f}\n")
        lines.append("| transitions | accuracy |")
        lines.append("|---|---:|")
        for name, value in ac["accuracy"].items():
            lines.append(f"| {name} | {value:.3f} |")
    mem = results.get("memory", {})
    if "models" in mem:
        k = mem["steps_each_way"]
        lines.append(f"\nMemory: {k} steps left then {k} steps right (actions {mem['actions']}); "
                     f"error against x_0 of x_{k} (out) and x_{2 * k} (back)\n")
        lines.append("| model | MSE out | MSE back | back/out | PSNR back (dB) | SSIM back | MSE x_1 vs x_2N-1 |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        rows = dict(mem["models"])
        if "out_mse" in mem.get("real_game", {}):
            rows["real game*"] = mem["real_game"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['out_mse']:.5f} | {r['back_mse']:.5f} | {r['back_over_out']:.2f} | "
                         f"{r['back_psnr']:.2f} | {r['back_ssim']:.3f} | {r['own_back_mse']:.5f} |")
    return "\n".join(lines)
