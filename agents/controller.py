"""C: the World Models linear controller a = f(W [z, h] + b) (or [z, c, h], controller.inputs),
evaluated for a whole population at once (one parameter vector per episode); with
controller.hidden N, a = f(W2 tanh(W1 [z, h] + b1) + b2), one hidden layer of N tanh units (not
the paper's: an option for inputs a linear map cannot read, docs/RESULTS.md). f maps the output
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
    hidden: int = 0
    """tanh units between the input and the outputs (controller.hidden); 0: the paper's linear C"""

    def __post_init__(self):
        if self.hidden < 0:
            raise ValueError(f"a controller's hidden units must be 0 (linear) or more, got {self.hidden}")

    @classmethod
    def for_game(cls, game: GameInfo, obs_dim: int, hidden: int = 0) -> "ControllerSpec":
        """C for `game`'s actions, as its description says (game.controller_output,
        game.clipped_outputs), with `hidden` tanh units (0: linear)."""
        space = game.action_space
        if game.controller_output == "continuous":
            return cls(obs_dim, game.num_actions, "continuous",
                       tuple(float(v) for v in space.low.ravel()), tuple(float(v) for v in space.high.ravel()),
                       game.clipped_outputs, hidden)
        if game.controller_output == "threshold":
            return cls(obs_dim, 1, "threshold", hidden=hidden)
        return cls(obs_dim, game.num_actions, "argmax", hidden=hidden)

    @property
    def num_params(self) -> int:
        if self.hidden:
            return self.hidden * (self.obs_dim + 1) + self.out_dim * (self.hidden + 1)
        return self.out_dim * (self.obs_dim + 1)

    def actions(self, params: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """params: (batch, num_params), one controller per row, laid out as W, b (linear) or W1, b1,
        W2, b2 (hidden), each W row-major (outputs, inputs); obs: (batch, obs_dim).
        Returns (batch,) long for discrete games, (batch, out_dim) float for continuous."""
        if self.hidden:
            x, start = _affine(params, 0, obs, self.hidden)
            out, _ = _affine(params, start, torch.tanh(x), self.out_dim)
        else:
            out, _ = _affine(params, 0, obs, self.out_dim)  # (batch, out_dim)
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


def _affine(params: torch.Tensor, start: int, x: torch.Tensor, outputs: int) -> tuple[torch.Tensor, int]:
    """W x + b for each row, W (outputs, inputs) and b (outputs,) the row's parameters from column
    `start` on: ((batch, outputs), the column after b)."""
    inputs = x.shape[1]
    end = start + outputs * inputs
    w = params[:, start:end].view(-1, outputs, inputs)
    return torch.bmm(w, x.unsqueeze(-1)).squeeze(-1) + params[:, end : end + outputs], end + outputs


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
