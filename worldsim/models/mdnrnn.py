"""M: the World Models MDN-RNN. An LSTM reads (z_t, a_t) and predicts p(z_{t+1}) as a mixture of
Gaussians per latent dimension, plus a done logit and (for games with a real reward) the reward:
a regressed value (CarRacing's per-tile reward), or, for a game that pays a few values (Atari's
points), logits over those values, of which the dream draws one. M may also read the episode's
score so far (score_scale): the points won and lost before each step, for a game that ends at a
score (Pong at 21). Its done head then reads only that score and its own reward odds, so the dream
ends an episode when its count of points reaches the end, not when V's drawing of the score does."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldsim.checkpoint import load_checkpoint

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MDNOutput(NamedTuple):
    logpi: torch.Tensor  # (batch, time, z_dim, gaussians) log mixture weights; (batch, time, 1, gaussians) for a
    # joint mixture, one set of weights for every latent dimension (MDNRNN.joint)
    mu: torch.Tensor  # (batch, time, z_dim, gaussians)
    logsigma: torch.Tensor  # (batch, time, z_dim, gaussians)
    reward: torch.Tensor  # (batch, time, R): the value (R = 1) or logits over MDNRNN.reward_values
    done_logit: torch.Tensor  # (batch, time)


def running_score(rewards: np.ndarray) -> np.ndarray:
    """An episode's rewards (T,) -> the score before each step and after the last (T+1, 2):
    points won and points lost so far (each >= 0), what a score-reading M reads beside z."""
    r = np.asarray(rewards, dtype=np.float64)
    steps = np.stack([np.maximum(r, 0), np.maximum(-r, 0)], axis=-1)
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)]).astype(np.float32)


def add_points(score: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    """The score (batch, 2) after a step that paid `reward` (batch,): won and lost counted apart."""
    return score + torch.stack([reward.clamp(min=0), (-reward).clamp(min=0)], dim=-1)


class MDNRNN(nn.Module):
    """reward_values: () to regress the reward; else the values it may take, and the head gives
    logits over them (their order is the logits' order). score_scale: 0, M reads (z, a) as in the
    paper; else it also reads the episode's score so far, (points won, points lost) / score_scale
    (see running_score), and every caller passes it. The done logit is then not read from h (where
    z's picture of the score, which a dream redraws at every step, reaches it) but from
    [score / score_scale, the reward head's odds] by a small MLP (done_from_score): the game ends
    on the step that pays the deciding point.

    joint: False, the paper's mixture, one per latent dimension, each with its own weights, so a
    dream draws each dimension's component apart from the others'; True, one mixture over the
    whole z (its components diagonal Gaussians sharing one set of weights), so a dream draws one
    component for all dimensions and z's dimensions move together (the form some PyTorch
    reimplementations of the paper train). Where V holds an object's position across several
    dimensions, per-dimension draws can combine one dimension's "the ball went up" with
    another's "it went down"; on Pong's follower data the joint form kept the ball no longer
    (docs/RESULTS.md, "Pong: one mixture over the whole z")."""

    SPEC = ("z_dim", "action_dim", "discrete_actions", "hidden", "gaussians", "reward_values", "score_scale", "joint")
    """The constructor's arguments, as a checkpoint's metadata stores them (spec / from_spec)."""

    DONE_WIDTH = 32
    """hidden units of a score-reading M's done MLP"""

    def __init__(self, z_dim: int, action_dim: int, discrete_actions: bool, hidden: int = 256, gaussians: int = 5,
                 reward_values: tuple[float, ...] = (), score_scale: float = 0.0, joint: bool = False):
        super().__init__()
        self.joint = bool(joint)
        if not (score_scale >= 0 and math.isfinite(score_scale)):
            raise ValueError(f"M's score_scale must be 0 (off) or a positive number of points, got {score_scale}")
        self.score_scale = float(score_scale)
        self.z_dim, self.action_dim, self.hidden, self.gaussians = z_dim, action_dim, hidden, gaussians
        self.discrete_actions = discrete_actions
        self.reward_values = tuple(float(v) for v in reward_values)
        if len(self.reward_values) == 1 or len(set(self.reward_values)) != len(self.reward_values):
            raise ValueError(f"reward classes must be two or more distinct values, got {self.reward_values}")
        self.reward_width = len(self.reward_values) or 1
        self.register_buffer("reward_table", torch.tensor(self.reward_values or (0.0,)), persistent=False)
        self.input_size = z_dim + action_dim + (2 if self.score_scale else 0)
        """the LSTM's input width: [z, a] or [z, a, score / score_scale]"""
        self.lstm = nn.LSTM(self.input_size, hidden, batch_first=True)
        self.mixture_width = (gaussians + 2 * z_dim * gaussians) if self.joint else 3 * z_dim * gaussians
        """the head's mixture columns: per dimension (z_dim, 3: logits, mu, logsigma, gaussians); joint,
        the gaussians logits then (z_dim, 2: mu, logsigma, gaussians)"""
        self.head = nn.Linear(hidden, self.mixture_width + self.reward_width + 1)
        self.done_net = None
        if self.score_scale:  # the head's own done column is then unused
            self.done_net = nn.Sequential(nn.Linear(2 + self.reward_width, self.DONE_WIDTH), nn.Tanh(),
                                          nn.Linear(self.DONE_WIDTH, 1))

    def spec(self) -> dict:
        """The constructor's arguments by name (JSON-friendly), for a checkpoint's metadata."""
        return {name: getattr(self, name) for name in self.SPEC} | {"reward_values": list(self.reward_values)}

    @classmethod
    def from_spec(cls, spec: dict) -> "MDNRNN":
        """An untrained M of the sizes `spec` (spec() or a checkpoint's metadata) names; M saved
        before reward classes existed regresses its reward."""
        return cls(**{name: spec[name] for name in cls.SPEC if name in spec})

    def expected_reward(self, reward: torch.Tensor) -> torch.Tensor:
        """The head's reward outputs (..., R) -> the expected reward (...)."""
        if not self.reward_values:
            return reward[..., 0]
        return F.softmax(reward, dim=-1) @ self.reward_table

    def reward_classes(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards (...) -> the index of the nearest of reward_values (...), the classes' targets."""
        return (rewards[..., None] - self.reward_table).abs().argmin(dim=-1)

    def pay(self, reward: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """What a dream step pays, from the head's reward outputs (batch, R): the regressed value,
        or one of reward_values drawn from the logits (noise from `generator`). -> (batch,)."""
        if not self.reward_values:
            return reward[:, 0]
        p = F.softmax(reward, dim=-1)
        u = torch.rand(len(p), 1, device=p.device, generator=generator)
        k = (p.cumsum(dim=-1)[:, :-1] <= u).sum(dim=-1)
        return self.reward_table[k]

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Discrete action indices (batch, time) -> one-hot; continuous (batch, time, dim) pass through."""
        if self.discrete_actions:
            return F.one_hot(actions.long(), self.action_dim).float()
        return actions.float()

    def inputs(self, z: torch.Tensor, actions: torch.Tensor, score: torch.Tensor | None = None) -> torch.Tensor:
        """What the LSTM reads: [z, a] (a one-hot where discrete), and for a score-reading M the
        score (..., 2), points won and lost so far, divided by score_scale. -> (..., input_size)."""
        parts = [z, self.encode_actions(actions)]
        if self.score_scale:
            if score is None:
                raise ValueError(f"this M reads the episode's score so far (score_scale {self.score_scale:g}): "
                                 "pass score, the points won and lost before each step")
            parts.append(score.to(z.dtype) / self.score_scale)
        return torch.cat(parts, dim=-1)

    def forward(
        self, z: torch.Tensor, actions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
        score: torch.Tensor | None = None,
    ) -> tuple[MDNOutput, tuple[torch.Tensor, torch.Tensor]]:
        """z: (batch, time, z_dim); actions: (batch, time) or (batch, time, action_dim); score
        (batch, time, 2) for a score-reading M (see inputs)."""
        h, state = self.lstm(self.inputs(z, actions, score), state)
        return self.read_out(h, score), state

    def forward_dropout(self, z: torch.Tensor, actions: torch.Tensor, p: float,
                        generator: torch.Generator | None = None, score: torch.Tensor | None = None) -> MDNOutput:
        """forward() from a zero state with variational dropout (Gal & Ghahramani 2016) on the
        LSTM's inputs and its recurrent state: each sequence draws one mask over [z, a] and one
        over h, kept for all its steps, dropping each unit with probability p (kept ones scaled by
        1 / (1 - p)). This is how a dream with `dream_dropout` runs each episode (one mask per
        episode, see worldsim.dream), the Dropout's Dream Land recipe (Wellmer & Kwok 2021). The
        same nn.LSTM weights, unrolled step by step with torch.lstm_cell (nn.LSTM has no recurrent
        dropout); about twice as slow to train on a CPU."""
        if not 0.0 <= p < 1.0:
            raise ValueError(f"M's dropout must be in [0, 1), got {p}")
        x = self.inputs(z, actions, score)  # (batch, time, inputs)
        mask_x, mask_h = (dropout_mask((len(x), n), p, generator, x.device) for n in (x.shape[-1], self.hidden))
        lstm = self.lstm
        h = c = x.new_zeros(len(x), self.hidden)
        hs = []
        for x_t in (x * mask_x[:, None]).unbind(1):
            h, c = torch.lstm_cell(x_t, (h * mask_h, c), lstm.weight_ih_l0, lstm.weight_hh_l0,
                                   lstm.bias_ih_l0, lstm.bias_hh_l0)
            hs.append(h)
        return self.read_out(torch.stack(hs, dim=1), score)

    def advance(self, z: torch.Tensor, actions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                score: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the LSTM alone (no mixture head): z (batch, z_dim), actions (batch, ...),
        score (batch, 2) for a score-reading M."""
        return self.lstm(self.inputs(z, actions, score)[:, None], state)[1]

    def h_before(self, z: torch.Tensor, actions: torch.Tensor, score: torch.Tensor | None = None) -> torch.Tensor:
        """The h that C reads beside each z_t of one recorded episode, as advance() carries it from
        initial_state through the episode: z (T+1, z_dim) V's means of its frames, actions (T, ...),
        score (T+1, 2) its running_score for a score-reading M -> (T+1, hidden), the LSTM's output
        after z_0..z_t-1 with a_0..a_t-1 and the score before each of those steps; zeros at t = 0."""
        h, _ = self.lstm(self.inputs(z[None, :-1], actions[None], None if score is None else score[None, :-1]))
        return torch.cat([h.new_zeros(1, self.hidden), h[0]])

    def read_out(self, h: torch.Tensor, score: torch.Tensor | None = None) -> MDNOutput:
        """h: (batch, time, hidden) -> the mixture, reward and done predictions (score (batch,
        time, 2) for a score-reading M's done head)."""
        b, t, _ = h.shape
        out = self.head(h)
        g = self.gaussians
        if self.joint:
            logits = out[..., None, :g]  # (b, t, 1, gaussians)
            mix = out[..., g : self.mixture_width].view(b, t, self.z_dim, 2, g)
        else:
            mix = out[..., : self.mixture_width].view(b, t, self.z_dim, 3, g)
            logits, mix = mix[..., 0, :], mix[..., 1:, :]
        reward = out[..., -1 - self.reward_width : -1]
        return MDNOutput(F.log_softmax(logits, dim=-1), mix[..., 0, :], mix[..., 1, :].clamp(-7.0, 5.0), reward,
                         self.done_logit(out[..., -1], reward, score))

    def done_logit(self, from_h: torch.Tensor, reward: torch.Tensor, score: torch.Tensor | None) -> torch.Tensor:
        """The done logit (...): the head's column read from h (from_h, (...)), or for a
        score-reading M the done MLP on [score / score_scale, the reward head's odds] (reward
        (..., R) outputs; softmax of the classes, or the regressed value), the odds detached so
        that the done loss does not bend the reward head."""
        if self.done_net is None:
            return from_h
        odds = F.softmax(reward, dim=-1) if self.reward_values else reward
        x = torch.cat([score.to(reward.dtype) / self.score_scale, odds.detach()], dim=-1)
        return self.done_net(x)[..., 0]

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(1, batch, self.hidden, device=device)
        return zeros, zeros.clone()


def end_probability(done_logit: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """The probability that the game ends at this step, from M's done logit. M was trained with
    episode ends weighted pos_weight times (mdnrnn.done_pos_weight; positives are rare), which
    inflates its odds by that factor: dividing them back out calibrates the head."""
    return torch.sigmoid(done_logit - math.log(pos_weight))


def mdn_nll(out: MDNOutput, z_next: torch.Tensor) -> torch.Tensor:
    """-log p(z_next) divided by z_dim (nats per latent dimension), shape (batch, time): under a
    mixture per dimension the mean of the dimensions' NLLs; under a joint mixture (logpi's
    dimension axis of size 1) the whole z's NLL, its components' log densities summed over the
    dimensions before the mixture's logsumexp."""
    x = z_next.unsqueeze(-1)
    log_normal = -0.5 * ((x - out.mu) / out.logsigma.exp()).pow(2) - out.logsigma - LOG_SQRT_2PI  # (b, t, z, g)
    if out.logpi.shape[-2] == 1:
        return -torch.logsumexp(out.logpi[..., 0, :] + log_normal.sum(-2), dim=-1) / z_next.shape[-1]
    return -torch.logsumexp(out.logpi + log_normal, dim=-1).mean(-1)


def sample_next_z(out: MDNOutput, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample z_{t+1} for the last time step: mixture weights sharpened/flattened by temperature
    (logits / tau) and the Gaussian noise scaled by sqrt(tau), as in the paper. tau = 0 is the
    deterministic limit: the mean of the most likely component. A joint mixture draws one
    component for all of z. -> (batch, z_dim)."""
    logpi, mu, logsigma = (x[:, -1].movedim(-1, 0) for x in (out.logpi, out.mu, out.logsigma))  # (gaussians, batch, z_dim or 1)
    u = torch.rand(logpi.shape[1:], device=mu.device, generator=generator)
    eps = torch.randn(mu.shape[1:], device=mu.device, generator=generator)
    return draw_from_mixture(logpi, mu, logsigma, u, eps, *temperature_factors(temperature, mu.device))


def temperature_factors(temperature: float, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 / tau, sqrt(tau)) as tensors (so a compiled step is not rebuilt for each tau); tau <= 0
    gives (inf, 0): the likeliest component's mean."""
    tau = float(temperature)
    if tau <= 0:
        return torch.tensor(math.inf, device=device), torch.tensor(0.0, device=device)
    return torch.tensor(1.0 / tau, device=device), torch.tensor(math.sqrt(tau), device=device)


def draw_from_mixture(logits: torch.Tensor, mu: torch.Tensor, logsigma: torch.Tensor, u: torch.Tensor,
                      eps: torch.Tensor, inv_tau: torch.Tensor, sqrt_tau: torch.Tensor) -> torch.Tensor:
    """One draw per (batch, z_dim) from the tempered mixture, components first: mu and logsigma
    (gaussians, batch, z_dim), logits (gaussians, batch, z_dim), or (gaussians, batch, 1) for a
    joint mixture; u ~ U[0, 1) of the logits' shape without the components, eps ~ N(0, 1) of
    shape (batch, z_dim). The component comes from the inverse CDF of softmax(logits / tau), one
    uniform per set of weights (cheaper than a Gumbel per component); at tau = 0 (inv_tau = inf)
    only the likeliest component keeps weight. -> (batch, z_dim)."""
    top = logits.amax(dim=0)
    weights = torch.nan_to_num((logits - top) * inv_tau, nan=0.0).exp()  # inf * 0 at the top -> weight 1
    cumulative = weights.cumsum(dim=0)
    k = (cumulative[:-1] <= u * cumulative[-1]).sum(dim=0, keepdim=True).expand(1, *mu.shape[1:])  # (1, batch, z_dim)
    return mu.gather(0, k)[0] + logsigma.gather(0, k)[0].exp() * sqrt_tau * eps


def dropout_mask(shape: tuple[int, int], p: float, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """An inverted-dropout mask: each entry 1 / (1 - p) with probability 1 - p, else 0, so the
    masked input keeps its expected value. The one draw both M's dropout training and the
    dream's per-episode masks use."""
    keep = 1.0 - p
    return (torch.rand(shape, device=device, generator=generator) < keep).float() / keep


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x @ w + b in float32, the matmul in w's dtype."""
    if w.dtype == torch.float32:
        return torch.addmm(b, x, w)
    return (x.to(w.dtype) @ w).float() + b


def _cell(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor, b: torch.Tensor, head_w: torch.Tensor,
          head_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LSTM cell on x = [z, action, h] and M's head: -> (h, c, head output). The g gate's
    columns are doubled in w, so one sigmoid serves all four gates: tanh(g) = 2 sigmoid(2g) - 1."""
    i, f, g2, o = _linear(x, w, b).sigmoid().chunk(4, dim=-1)
    c = f * c + i * (g2 * 2 - 1)
    h = o * torch.tanh(c)
    return h, c, _linear(h, head_w, head_b)


def _mixture(out: torch.Tensor, gaussians: int, weight_sets: int, reward_width: int):
    """The stepper's head output (batch, outputs), its mixture columns laid out components first
    (see MDNStepper) -> logits (gaussians, batch, weight_sets), mu and logsigma (gaussians, batch,
    z_dim); weight_sets is z_dim for a mixture per dimension, 1 for a joint one."""
    n = gaussians * weight_sets
    logits = out[:, :n].view(len(out), gaussians, weight_sets).transpose(0, 1)
    mix = out[:, n : -1 - reward_width].view(len(out), 2, gaussians, -1).permute(1, 2, 0, 3)  # (2, gaussians, batch, z_dim)
    return logits, mix[0], mix[1].clamp(-7.0, 5.0)


def _dream_step(x, h, c, u, eps, inv_tau, sqrt_tau, w, b, head_w, head_b, gaussians: int, weight_sets: int,
                reward_width: int, mask=None):
    """One dream step of M: the cell on M's input x (MDNRNN.inputs: [z, a, (score)]) and h, the
    head and a draw of z_{t+1} (see _mixture; u has weight_sets columns); mask, where given,
    scales the cell's input [x, h] (per-episode dropout). -> (z_next, h, c, reward outputs
    (batch, reward_width), done logit from h)."""
    h, c, out = _cell(_masked(torch.cat([x, h], dim=-1), mask), c, w, b, head_w, head_b)
    z = draw_from_mixture(*_mixture(out, gaussians, weight_sets, reward_width), u, eps, inv_tau, sqrt_tau)
    return z, h, c, out[:, -1 - reward_width : -1], out[:, -1]


class MDNStepper:
    """M one step at a time, for the dream's inner loop: the LSTM cell written out with its two
    matmuls fused into one, (optionally) the matmul weights in bfloat16, which is several times
    faster on CPUs with AVX512-BF16 and on GPUs, and (optionally) the whole step, sampling
    included, compiled by torch.compile into a few fused kernels. State and nonlinearities stay
    float32."""

    compile_from_batch = 64
    """Smaller batches (the last few running episodes) run eagerly: torch.compile specialises
    on batch sizes 0 and 1, and would compile again for them."""

    @torch.no_grad()
    def __init__(self, model: MDNRNN, dtype: torch.dtype = torch.float32, compile: bool = False):
        lstm = model.lstm
        self.model, self.dtype, self.compile = model, dtype, compile
        hidden, z_dim, g = model.hidden, model.z_dim, model.gaussians
        scale = torch.ones(4 * hidden, device=lstm.weight_hh_l0.device)
        scale[2 * hidden : 3 * hidden] = 2.0  # gate order i, f, g, o: g's columns doubled (see _cell)
        # (input_size + hidden, 4 * hidden): [x, h] @ w == x @ W_ih^T + h @ W_hh^T
        self.w = (torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], dim=1).t() * scale).contiguous().to(dtype)
        self.b = (lstm.bias_ih_l0 + lstm.bias_hh_l0) * scale
        # The head's mixture columns reordered, components first: per dimension from (z_dim, 3,
        # gaussians) to (3, gaussians, z_dim); joint, the logits kept and (z_dim, 2, gaussians) to
        # (2, gaussians, z_dim). Each component's logits, means and scales are then contiguous blocks.
        self.weight_sets = 1 if model.joint else z_dim
        if model.joint:
            order = torch.cat([torch.arange(g), g + torch.arange(2 * z_dim * g).view(z_dim, 2, g).permute(1, 2, 0).reshape(-1)])
        else:
            order = torch.arange(3 * z_dim * g).view(z_dim, 3, g).permute(1, 2, 0).reshape(-1)
        order = torch.cat([order, torch.arange(model.mixture_width, model.head.out_features)]).to(self.b.device)
        self.head_w = model.head.weight[order].t().contiguous().to(dtype)  # (hidden, outputs)
        self.head_b = model.head.bias[order].clone()

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, actions: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                 mask: torch.Tensor | None = None, score: torch.Tensor | None = None):
        """z (batch, z_dim), h and c (batch, hidden) -> (MDNOutput with time 1, h, c); mask
        (batch, input_size + hidden) scales [z, a, (score,) h] where given; score (batch, 2) for a
        score-reading M. The mixture logits are left unnormalised: sampling (sample_next_z) does
        not need it."""
        m = self.model
        x = _masked(torch.cat([m.inputs(z, actions, score), h], dim=-1), mask)
        h, c, out = self._run(_cell, x, c, self.w, self.b, self.head_w, self.head_b)
        r = m.reward_width
        logits, mu, logsigma = (x.movedim(0, -1)[:, None] for x in _mixture(out, m.gaussians, self.weight_sets, r))
        reward = out[:, None, -1 - r : -1]
        done = m.done_logit(out[:, None, -1], reward, None if score is None else score[:, None])
        return MDNOutput(logits, mu, logsigma, reward, done), h, c

    @torch.no_grad()
    def step(self, z: torch.Tensor, actions: torch.Tensor, h: torch.Tensor, c: torch.Tensor, temperature: float,
             generator: torch.Generator | None = None, mask: torch.Tensor | None = None,
             score: torch.Tensor | None = None):
        """A whole dream step: M's cell and head, then z_{t+1} drawn at `temperature` (noise from
        `generator`); mask and score as in __call__. -> (z_next, h, c, reward outputs (batch, R;
        MDNRNN.pay turns them into what the step pays), done_logit), each with batch rows."""
        u = torch.rand(len(z), self.weight_sets, device=z.device, generator=generator)
        eps = torch.randn(z.shape, device=z.device, generator=generator)
        m = self.model
        z, h, c, reward, done = self._run(_dream_step, m.inputs(z, actions, score), h, c, u, eps,
                                          *temperature_factors(temperature, z.device), self.w, self.b, self.head_w,
                                          self.head_b, m.gaussians, self.weight_sets, m.reward_width, mask)
        return z, h, c, reward, m.done_logit(done, reward, score)

    def _run(self, fn, *args):
        """fn(*args), compiled by torch.compile when asked for and the batch is large enough."""
        if self.compile and len(args[0]) >= self.compile_from_batch:
            try:
                return _compiled(fn)(*args)
            except Exception as exc:  # no C++ compiler, an unsupported platform: stay correct, run eagerly
                warnings.warn(f"torch.compile of M's dream step failed, running it eagerly ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})", stacklevel=3)
                self.compile = False
        return fn(*args)


_COMPILED: dict = {}


def _compiled(fn):
    """fn compiled once per process, for any batch size (dynamic shapes)."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn, dynamic=True)
    return _COMPILED[fn]


def load_mdnrnn(path: str | Path, env: str | None = None, device: str | torch.device = "cpu") -> tuple[MDNRNN, dict]:
    """M from a checkpoint (eval mode) and the checkpoint's metadata."""
    ckpt = load_checkpoint(path, kind="mdnrnn", env=env)
    m = ckpt["meta"]
    model = MDNRNN.from_spec(m)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), m
