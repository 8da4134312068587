"""M: the World Models MDN-RNN. An LSTM reads (z_t, a_t) and predicts p(z_{t+1}) as a mixture of
Gaussians per latent dimension, plus a done logit and (for games with a real reward) the reward."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MDNOutput(NamedTuple):
    logpi: torch.Tensor  # (batch, time, z_dim, gaussians) log mixture weights
    mu: torch.Tensor  # (batch, time, z_dim, gaussians)
    logsigma: torch.Tensor  # (batch, time, z_dim, gaussians)
    reward: torch.Tensor  # (batch, time)
    done_logit: torch.Tensor  # (batch, time)


class MDNRNN(nn.Module):
    def __init__(self, z_dim: int, action_dim: int, discrete_actions: bool, hidden: int = 256, gaussians: int = 5):
        super().__init__()
        self.z_dim, self.action_dim, self.hidden, self.gaussians = z_dim, action_dim, hidden, gaussians
        self.discrete_actions = discrete_actions
        self.lstm = nn.LSTM(z_dim + action_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 3 * z_dim * gaussians + 2)

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Discrete action indices (batch, time) -> one-hot; continuous (batch, time, dim) pass through."""
        if self.discrete_actions:
            return F.one_hot(actions.long(), self.action_dim).float()
        return actions.float()

    def forward(
        self, z: torch.Tensor, actions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[MDNOutput, tuple[torch.Tensor, torch.Tensor]]:
        """z: (batch, time, z_dim); actions: (batch, time) or (batch, time, action_dim)."""
        h, state = self.lstm(torch.cat([z, self.encode_actions(actions)], dim=-1), state)
        return self.read_out(h), state

    def advance(self, z: torch.Tensor, actions: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the LSTM alone (no mixture head): z (batch, z_dim), actions (batch, ...)."""
        x = torch.cat([z, self.encode_actions(actions)], dim=-1)[:, None]
        return self.lstm(x, state)[1]

    def read_out(self, h: torch.Tensor) -> MDNOutput:
        """h: (batch, time, hidden) -> the mixture, reward and done predictions."""
        b, t, _ = h.shape
        out = self.head(h)
        mix = out[..., : 3 * self.z_dim * self.gaussians].view(b, t, self.z_dim, 3, self.gaussians)
        logpi = F.log_softmax(mix[..., 0, :], dim=-1)
        return MDNOutput(logpi, mix[..., 1, :], mix[..., 2, :].clamp(-7.0, 5.0), out[..., -2], out[..., -1])

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(1, batch, self.hidden, device=device)
        return zeros, zeros.clone()


def mdn_nll(out: MDNOutput, z_next: torch.Tensor) -> torch.Tensor:
    """-log p(z_next) per latent dimension, shape (batch, time, z_dim)."""
    x = z_next.unsqueeze(-1)
    log_normal = -0.5 * ((x - out.mu) / out.logsigma.exp()).pow(2) - out.logsigma - LOG_SQRT_2PI
    return -torch.logsumexp(out.logpi + log_normal, dim=-1)


def sample_next_z(out: MDNOutput, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample z_{t+1} for the last time step: mixture weights sharpened/flattened by temperature
    (logits / tau) and the Gaussian noise scaled by sqrt(tau), as in the paper. -> (batch, z_dim)."""
    logpi, mu, logsigma = out.logpi[:, -1], out.mu[:, -1], out.logsigma[:, -1]  # (batch, z_dim, gaussians)
    tau = max(float(temperature), 1e-6)
    probs = F.softmax(logpi / tau, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    k = torch.multinomial(flat, 1, generator=generator)
    eps = torch.randn(mu.shape[:-1], device=mu.device, generator=generator)
    k = k.view(mu.shape[:-1] + (1,))
    chosen_mu = mu.gather(-1, k).squeeze(-1)
    chosen_sigma = logsigma.gather(-1, k).squeeze(-1).exp()
    return chosen_mu + chosen_sigma * math.sqrt(tau) * eps
