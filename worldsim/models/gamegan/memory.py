"""GameGAN's memory module: a block M of H x W cells of D features, addressed by an attention
map alpha_t over the cells that starts as a one-hot at the centre and is moved each step by a
3x3 shift kernel predicted from the action, gated by the state (paper, Sec. 3.2). The block
becomes a map of the level: what was seen at a place is read back when the agent returns.

Order within a step: alpha_t is moved first (kernel from a_t, gate from h_{t-1}); after the
dynamics engine has made h_t, the memory is written at alpha_t (erase/add from h_t) and then
read at alpha_t, so m_t already holds what was just written and the renderer sees it at once."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Memory(nn.Module):
    def __init__(self, height: int, width: int, dim: int, hidden: int, action_dim: int,
                 discrete_actions: bool, flip_pairs: Sequence[tuple[int, int]] = (), kernel_temperature: float = 0.1):
        """flip_pairs: (i, j) pairs of opposite discrete actions; action j's kernel is action i's
        mirrored left-right (e.g. Doom TakeCover's left 0 and right 2), so a step right undoes a
        step left exactly and the two moves learn from each other's data. kernel_temperature: the
        shift kernels' softmax temperature (low: sharp moves that keep attention on one cell)."""
        super().__init__()
        if kernel_temperature <= 0:
            raise ValueError(f"gamegan.kernel_temperature must be positive, got {kernel_temperature}")
        self.kernel_temperature = kernel_temperature
        if flip_pairs and not discrete_actions:
            raise ValueError("flip_pairs needs discrete actions")
        for i, j in flip_pairs:
            if not (0 <= i < action_dim and 0 <= j < action_dim) or i == j:
                raise ValueError(f"flip pair ({i}, {j}) is not a pair of two of the {action_dim} actions")
        self.height, self.width, self.dim = height, width, dim
        self.action_dim, self.discrete_actions = action_dim, discrete_actions
        self.flip_pairs = [tuple(map(int, p)) for p in flip_pairs]
        self.kernel = nn.Sequential(nn.Linear(action_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, 9))  # K(a_t)
        self.gate = nn.Linear(hidden, 1)  # G(h_{t-1})
        self.erase = nn.Linear(hidden, dim)  # E(h_t)
        self.add = nn.Linear(hidden, dim)  # A(h_t)

    def initial_state(self, batch: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """An empty block (batch, H*W, D) and the attention one-hot at the centre (batch, H, W)."""
        memory = torch.zeros(batch, self.height * self.width, self.dim, device=device)
        alpha = torch.zeros(batch, self.height, self.width, device=device)
        alpha[:, self.height // 2, self.width // 2] = 1.0
        return memory, alpha

    def kernels(self, action: torch.Tensor) -> torch.Tensor:
        """Encoded actions (batch, action_dim) -> shift kernels (batch, 3, 3); entry [1+dy, 1+dx] is
        the share of attention that moves by (dy, dx)."""
        if not self.discrete_actions:
            return F.softmax(self.kernel(action) / self.kernel_temperature, dim=-1).view(-1, 3, 3)
        eye = torch.eye(self.action_dim, device=action.device, dtype=action.dtype)
        table = F.softmax(self.kernel(eye) / self.kernel_temperature, dim=-1).view(self.action_dim, 3, 3)  # per action
        if self.flip_pairs:
            rows = list(table.unbind(0))
            for i, j in self.flip_pairs:
                rows[j] = rows[i].flip(-1)
            table = torch.stack(rows)
        return torch.einsum("ba,akl->bkl", action, table)  # one-hot actions pick their kernel

    def attend(self, alpha: torch.Tensor, action: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        """alpha_t = g * shift(alpha_{t-1}, K(a_t)) + (1 - g) * alpha_{t-1}, g = sigmoid(G(h_{t-1}))."""
        g = torch.sigmoid(self.gate(h_prev))[:, :, None]  # (batch, 1, 1)
        return g * shift(alpha, self.kernels(action)) + (1 - g) * alpha

    def write(self, memory: torch.Tensor, alpha: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """M <- M * (1 - alpha e^T) + alpha add^T, with e = sigmoid(E(h_t)), add = tanh(A(h_t))."""
        a = alpha.flatten(1)[:, :, None]  # (batch, H*W, 1)
        erase = torch.sigmoid(self.erase(h))[:, None]  # (batch, 1, D)
        add = torch.tanh(self.add(h))[:, None]  # (batch, 1, D)
        return memory * (1 - a * erase) + a * add

    @staticmethod
    def read(memory: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """m = alpha^T M: (batch, H*W, D), (batch, H, W) -> (batch, D)."""
        return torch.einsum("bn,bnd->bd", alpha.flatten(1), memory)


def shift(alpha: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Move attention (batch, H, W) by per-sample kernels (batch, 3, 3). Mass that would leave the
    grid stays where it is (a move blocked by the border), so alpha remains a distribution:
    neither zero padding (loses mass) nor wrapping around (teleports across the map) does that."""
    b, h, w = alpha.shape
    weight = kernel[:, None]  # (batch, 1, 3, 3), one group per sample
    moved = F.conv2d(alpha[None], weight.flip(-1, -2), padding=1, groups=b)[0]  # mass at p lands on p + d
    inside = F.conv2d(torch.ones_like(alpha)[None], weight, padding=1, groups=b)[0]  # share of p's moves that stay in
    return moved + alpha * (1 - inside)
