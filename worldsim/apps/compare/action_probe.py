"""Whether a model's transitions show the action taken: a small CNN learns a_t from real pairs
(x_t, x_{t+k}) of training episodes; its accuracy on held-out real pairs is the reference for
its accuracy on each model's generated pairs."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from worldsim.apps.compare.heldout import HeldOut
from worldsim.apps.compare.predictors import Predictor
from worldsim.apps.compare.scores import _batched
from worldsim.data.episodes import iter_valid_episodes

if TYPE_CHECKING:
    from worldsim.apps.compare import CompareSettings


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
