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
    (logits / tau) and the Gaussian noise scaled by sqrt(tau), as in the paper. tau = 0 is the
    deterministic limit: the mean of the most likely component. -> (batch, z_dim)."""
    logpi, mu, logsigma = out.logpi[:, -1], out.mu[:, -1], out.logsigma[:, -1]  # (batch, z_dim, gaussians)
    tau = float(temperature)
    if tau <= 0:
        return mu.gather(-1, _argmax_last(logpi)).squeeze(-1)
    # Gumbel-max: argmax(logits/tau + Gumbel noise) is a draw from softmax(logits/tau), and on a
    # CPU it is several times faster than torch.multinomial over batch*z_dim rows.
    uniform = torch.rand(logpi.shape, device=logpi.device, generator=generator)
    minus_gumbel = uniform.clamp_(min=1e-12).log_().neg_().log_()  # log(-log u) = -Gumbel, in place
    k = _argmax_last(logpi / tau - minus_gumbel)  # (batch, z_dim, 1)
    eps = torch.randn(mu.shape[:-1], device=mu.device, generator=generator)
    chosen_mu = mu.gather(-1, k).squeeze(-1)
    chosen_sigma = logsigma.gather(-1, k).squeeze(-1).exp()
    return chosen_mu + chosen_sigma * math.sqrt(tau) * eps


def _argmax_last(x: torch.Tensor) -> torch.Tensor:
    """argmax over the last dimension (the few mixture components), keepdim. The components are
    laid out first and compared one by one: torch's CPU reduction over a last dimension of 5 is
    several times slower. Ties go to the first, as with argmax."""
    parts = x.movedim(-1, 0).contiguous()  # (components, ...)
    best, k = parts[0], torch.zeros(parts.shape[1:], dtype=torch.long, device=x.device)
    for j in range(1, len(parts)):
        better = parts[j] > best
        best = torch.maximum(best, parts[j])
        k += better * (j - k)
    return k.unsqueeze(-1)


class MDNStepper:
    """M one step at a time, for the dream's inner loop: the LSTM cell written out with its two
    matmuls fused into one, and (optionally) the matmul weights in bfloat16, which is several
    times faster on CPUs with AVX512-BF16 and on GPUs. State and nonlinearities stay float32."""

    @torch.no_grad()
    def __init__(self, model: MDNRNN, dtype: torch.dtype = torch.float32):
        lstm = model.lstm
        self.model, self.dtype = model, dtype
        hidden = model.hidden
        # The cell input's columns (gate order i, f, g, o) are doubled, so one sigmoid over all the
        # gates gives sigmoid(2g) and tanh(g) = 2 sigmoid(2g) - 1: one pass instead of four.
        scale = torch.ones(4 * hidden, device=lstm.weight_hh_l0.device)
        scale[2 * hidden : 3 * hidden] = 2.0
        # (z_dim + action_dim + hidden, 4 * hidden): [x, h] @ w == x @ W_ih^T + h @ W_hh^T
        self.w = (torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], dim=1).t() * scale).contiguous().to(dtype)
        self.b = (lstm.bias_ih_l0 + lstm.bias_hh_l0) * scale
        self.head_w = model.head.weight.t().contiguous().to(dtype)  # (hidden, outputs)
        self.head_b = model.head.bias.clone()

    def _linear(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """x @ w + b in float32 (the matmul in self.dtype)."""
        if self.dtype == torch.float32:
            return torch.addmm(b, x, w)
        return (x.to(self.dtype) @ w).float().add_(b)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, actions: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """z (batch, z_dim), h and c (batch, hidden) -> (MDNOutput with time 1, h, c). The
        mixture logits are left unnormalised: sampling (sample_next_z) does not need it."""
        m = self.model
        x = torch.cat([z, m.encode_actions(actions), h], dim=-1)
        i, f, g2, o = self._linear(x, self.w, self.b).sigmoid_().chunk(4, dim=-1)  # g2 = sigmoid(2g)
        c = torch.addcmul(f * c, i, g2 * 2 - 1)  # f c + i tanh(g)
        h = o * (torch.sigmoid(c * 2) * 2 - 1)  # o tanh(c)
        out = self._linear(h, self.head_w, self.head_b)  # (batch, outputs)
        b = len(h)
        mix = out[:, : 3 * m.z_dim * m.gaussians].view(b, 1, m.z_dim, 3, m.gaussians)
        output = MDNOutput(mix[..., 0, :], mix[..., 1, :], mix[..., 2, :].clamp(-7.0, 5.0),
                           out[:, None, -2], out[:, None, -1])
        return output, h, c
