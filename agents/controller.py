"""C: the World Models linear controller a = f(W [z, h] + b) (or [z, c, h], controller.inputs),
evaluated for a whole population at once (one parameter vector per episode). f maps the output
to the game's actions: tanh rescaled to a Box's bounds (CarRacing; its brake, as in the paper's
code, is tanh clipped at 0, so a controller starts with the brake off half the time rather than
half on), the paper's -1/3 and +1/3 thresholds for Doom TakeCover's left/stay/right, and an
argmax over the actions of any other discrete game."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from envs import GameInfo
from worldsim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class ControllerSpec:
    obs_dim: int
    out_dim: int
    mode: str  # "continuous" | "threshold" | "argmax"
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    clipped: tuple[int, ...] = ()
    """continuous action dimensions that are tanh clipped to [low, high], not rescaled to it"""

    @classmethod
    def for_game(cls, game: GameInfo, obs_dim: int) -> "ControllerSpec":
        """C for `game`'s actions, as its description says (game.controller_output,
        game.clipped_outputs)."""
        space = game.action_space
        if game.controller_output == "continuous":
            return cls(obs_dim, game.num_actions, "continuous",
                       tuple(float(v) for v in space.low.ravel()), tuple(float(v) for v in space.high.ravel()),
                       game.clipped_outputs)
        if game.controller_output == "threshold":
            return cls(obs_dim, 1, "threshold")
        return cls(obs_dim, game.num_actions, "argmax")

    @property
    def num_params(self) -> int:
        return self.out_dim * (self.obs_dim + 1)

    def actions(self, params: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """params: (batch, num_params), one controller per row; obs: (batch, obs_dim).
        Returns (batch,) long for discrete games, (batch, out_dim) float for continuous."""
        w = params[:, : self.out_dim * self.obs_dim].view(-1, self.out_dim, self.obs_dim)
        b = params[:, self.out_dim * self.obs_dim :]
        out = torch.bmm(w, obs.unsqueeze(-1)).squeeze(-1) + b  # (batch, out_dim)
        if self.mode == "argmax":
            return out.argmax(dim=-1)
        out = torch.tanh(out)
        if self.mode == "threshold":
            return (out[:, 0] > -1 / 3).long() + (out[:, 0] > 1 / 3).long()
        low = torch.tensor(self.low, device=out.device)
        high = torch.tensor(self.high, device=out.device)
        actions = low + (out + 1) * 0.5 * (high - low)
        if self.clipped:
            dims = list(self.clipped)
            actions[:, dims] = out[:, dims].clamp(low[dims], high[dims])
        return actions


def save_controller(path: str | Path, env: str, spec: ControllerSpec, params: np.ndarray, info: dict) -> None:
    save_checkpoint(path, kind="controller", env=env, model={"params": torch.as_tensor(params, dtype=torch.float32)},
                    meta={"spec": asdict(spec), **info})


def load_controller(path: str | Path, env: str | None = None,
                    obs_dim: int | None = None) -> tuple[ControllerSpec, np.ndarray, dict]:
    """A saved controller; obs_dim: the size of the observation it will act on, checked against
    the one it was trained on (the world's [z, h] or [z, c, h], see controller.inputs)."""
    ckpt = load_checkpoint(path, kind="controller", env=env)
    meta = dict(ckpt["meta"])
    spec_fields = meta.pop("spec")
    spec = ControllerSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec_fields.items()})
    if obs_dim is not None and spec.obs_dim != obs_dim:
        raise CheckpointError(f"{path}: the controller reads {spec.obs_dim} inputs, this world gives {obs_dim}; "
                              f"it was trained with another M or another controller.inputs ([z, h], [z, c, h] or z)")
    return spec, ckpt["model"]["params"].numpy(), meta
