"""The compared world models behind one interface (Predictor): GameGAN with noise z_t = 0, and V+M
at temperature 0 (V's mean of x_0, M's most likely component, V's decoder). Generated frames are
rounded to uint8, as a player sees them, before they are measured."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from worldsim.config import Config
from worldsim.run import RunDir, RunDirError

DEFAULT_GAMEGANS = ("gamegan", "gamegan_nomemory")
"""GameGAN checkpoints compared by default, when the run has them (checkpoints/NAME.pt)."""
VM = "vm"
"""The name of V+M among the models."""


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
        # Held-out clips carry frames and actions, not the points paid before them: a
        # score-reading M is told 0-0 throughout, as each open-loop dream here starts
        score = mu.new_zeros(b, steps, 2) if self.world.mdnrnn.score_scale else None
        out, _ = self.world.mdnrnn(mu, actions, score=score)
        top = out.logpi.argmax(dim=-1, keepdim=True).expand(*out.mu.shape[:-1], 1)  # a joint mixture's: every dim's
        z = out.mu.gather(-1, top).squeeze(-1)  # (B, T, z_dim)
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
