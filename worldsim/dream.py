"""The learned game ("dream") of a V+M world: M rolls the latent state forward, sampling z_{t+1}
at temperature tau, ending episodes from its done head and paying its reward (or +1 per step
survived). BatchedDream steps N dream episodes as one tensor operation; the gymnasium forms
(worldsim.dream_env) wrap it.

DreamEpisodes is what every dream keeps for its episodes, whatever draws the next frame: V's z
and M's LSTM state (the controller's [z, h]), step counts, each episode's dropout mask over M's
inputs, and the rules that end and pay a step; Dream holds it with the world, the temperature,
the random stream and M's stepper. BatchedDream (M samples the next z) and BatchedGameGANDream
(GameGAN draws the next frame, V encodes it) are both Dreams, so every dream option
(temperature, episode cap, done rule, dream dropout, compile, controller inputs) means the same
in both.

Both dreams offer: num_envs, device, temperature, seed(s), obs, reset(mask), reset_to_frames(frames),
step(actions) -> (obs, reward, terminated, truncated), keep(mask) and render(): the batched shape
the real games have too (envs.rollout.Games), so one rollout loop plays both.
"""
from __future__ import annotations

import torch

from worldsim.models.mdnrnn import MDNStepper, add_points, dropout_mask, end_probability
from worldsim.models.vae import frames_to_tensor
from worldsim.world_model import WorldModel


class DreamEpisodes:
    """The [z, h] side of N dream episodes: V's z, M's LSTM state h and c, steps taken, the points
    won and lost so far (what a score-reading M reads), and (with world.dream_dropout) each
    episode's dropout mask over M's cell input [z, a, (score,) h]."""

    def __init__(self, world: WorldModel, num_envs: int, max_steps: int | None, generator: torch.Generator):
        self.world, self.num_envs, self.generator = world, num_envs, generator
        self.max_steps = max_steps or world.game.max_episode_steps
        device = world.device
        self.z = torch.zeros(num_envs, world.z_dim, device=device)  # (num_envs, z_dim)
        self.h = torch.zeros(num_envs, world.mdnrnn.hidden, device=device)  # (num_envs, hidden)
        self.c = torch.zeros_like(self.h)
        self.t = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.score = torch.zeros(num_envs, 2, device=device)  # (num_envs, 2) points won, lost so far
        self.drop = None  # (num_envs, M's input_size + hidden) or None: no dream dropout
        if world.dream_dropout > 0:
            m = world.mdnrnn
            self.drop = torch.ones(num_envs, m.input_size + m.hidden, device=device)

    @property
    def obs(self) -> torch.Tensor:
        """(num_envs, world.obs_dim) float32: [z, h], or [z, c, h] (world.controller_inputs)."""
        return self.world.controller_input(self.z, self.h, self.c)

    def start(self, mask: torch.Tensor, z: torch.Tensor) -> None:
        """Episodes where `mask` is True begin at latents z (mask.sum(), z_dim), with M's state at
        zero and a new dropout mask each."""
        self.z[mask] = z
        self.h[mask] = 0.0
        self.c[mask] = 0.0
        self.t[mask] = 0
        self.score[mask] = 0.0
        if self.drop is not None:
            # each unit kept with probability 1 - p, scaled by 1 / (1 - p), as M was trained
            # (MDNRNN.forward_dropout), the same for the whole episode: each episode is its own
            # variant of the world (Dropout's Dream Land)
            shape = (int(mask.sum()), self.drop.shape[1])
            self.drop[mask] = dropout_mask(shape, self.world.dream_dropout, self.generator, self.z.device)

    def finish_step(self, reward: torch.Tensor, done_logit: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Count the step, draw episode ends from M's done head (done_logit, one per episode) and
        pay the step's reward (M's, from its reward outputs (num_envs, R), see MDNRNN.pay; or +1
        per step survived): (obs, reward, terminated, truncated). In a game that ends at a number
        of points (GameInfo.points_to_win), the step that pays either side its last point ends the
        episode too."""
        self.t += 1
        terminated = self._done(done_logit)
        if self.world.predict_reward:
            reward = self.world.mdnrnn.pay(reward, self.generator)
            self.score = add_points(self.score, reward)
            if self.world.game.points_to_win:  # the game's own end, whatever the done head learnt
                terminated = terminated | (self.score >= self.world.game.points_to_win).any(dim=-1)
        else:
            reward = torch.ones(self.num_envs, device=self.z.device)
        truncated = (self.t >= self.max_steps) & ~terminated
        return self.obs, reward, terminated, truncated

    def _done(self, logit: torch.Tensor) -> torch.Tensor:
        """Episode ends from M's done head. M was trained with episode ends weighted w times
        (positives are rare), which inflates its odds by w; dividing them back out gives the
        probability p of the game ending at this step. The "sample" rule ends with probability p,
        so a state the model finds risky stays risky however rarely it crosses one half. The
        "threshold" rule (the paper's reference code) ends surely once the weighted logit
        crosses 0, i.e. p > 1 / (1 + w), and never below it."""
        if self.world.done_rule == "threshold":
            return logit > 0
        p = end_probability(logit, self.world.done_pos_weight)
        return torch.rand(p.shape, device=p.device, generator=self.generator) < p

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the episodes where `mask` is False."""
        self.z, self.t, self.score = self.z[mask], self.t[mask], self.score[mask]
        self.h, self.c = self.h[mask], self.c[mask]
        if self.drop is not None:
            self.drop = self.drop[mask]
        self.num_envs = int(mask.sum())


class Dream:
    """What both batched dreams hold: the world, the temperature, one random stream for all their
    draws (so the same seed replays the same episodes), the episodes' [z, h] side and M's
    stepper. temperature None: the run's (world.temperature); compile: M's step fused by
    torch.compile."""

    def __init__(self, world: WorldModel, num_envs: int, temperature: float | None = None,
                 max_steps: int | None = None, seed: int | None = None, dtype: torch.dtype = torch.float32,
                 compile: bool = False):
        self.world, self.device = world, world.device
        self.temperature = world.temperature if temperature is None else temperature
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0 if seed is None else seed)
        self.episodes = DreamEpisodes(world, num_envs, max_steps, self.generator)
        self.m = MDNStepper(world.mdnrnn, dtype, compile)

    @property
    def num_envs(self) -> int:
        return self.episodes.num_envs

    @property
    def obs(self) -> torch.Tensor:
        return self.episodes.obs

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def rows(self, mask, seeds=None) -> torch.Tensor:
        """`mask` (numpy or torch bool, None: every row) as a bool tensor on the dream's device. A
        dream draws its episodes from its own random stream (seed()), so per-episode seeds, which
        the real games take (envs.rollout.Games), are refused rather than ignored."""
        if seeds is not None and any(s is not None for s in seeds):
            raise ValueError("a dream draws its episodes from its own random stream: seed it with "
                             "dream.seed(seed) rather than per-episode seeds")
        if mask is None:
            return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        return torch.as_tensor(mask, dtype=torch.bool, device=self.device)

    def actions(self, actions) -> torch.Tensor:
        """A batch of actions (tensor or numpy) as a tensor on the dream's device."""
        return torch.as_tensor(actions, device=self.device)


class BatchedDream(Dream):
    """N episodes of V+M's dream on one device: each step M reads (z_t, a_t), carries h forward
    and draws z_{t+1} from its mixture at the temperature. Observations are [z, h] (the paper's
    controller input), or [z, c, h] where the run's controller.inputs asks for M's cell state too."""

    @torch.no_grad()
    def reset(self, mask=None, seeds=None) -> torch.Tensor:
        """Start new episodes where `mask` is True (all when None) from latents of real first frames."""
        mask = self.rows(mask, seeds)
        n = int(mask.sum())
        if n:
            world = self.world
            pick = torch.randint(len(world.start_mu), (n,), device=self.device, generator=self.generator)
            eps = torch.randn(n, world.z_dim, device=self.device, generator=self.generator)
            self.episodes.start(mask, world.start_mu[pick] + eps * torch.exp(0.5 * world.start_logvar[pick]))
        return self.obs

    @torch.no_grad()
    def reset_to_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Start every episode afresh from the given latents (num_envs, z_dim), e.g. V's encoding of
        a real frame, so the dream can be compared step by step with the real game."""
        z = z.to(self.device, torch.float32).reshape(self.num_envs, self.world.z_dim)
        self.episodes.start(torch.ones(self.num_envs, dtype=torch.bool, device=self.device), z)
        return self.obs

    @torch.no_grad()
    def reset_to_frames(self, frames) -> torch.Tensor:
        """Start every episode afresh from real frames (num_envs, 64, 64, 3) uint8: z is V's
        encoding (its mean) of each, as the controller sees the real game."""
        mu, _ = self.world.vae.encode(frames_to_tensor(frames, self.device))
        return self.reset_to_latents(mu)

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """actions: (num_envs,) indices or (num_envs, action_dim). Returns obs, reward, terminated,
        truncated, each with num_envs rows; finished episodes stay finished until reset."""
        e = self.episodes
        e.z, e.h, e.c, reward, done_logit = self.m.step(e.z, self.actions(actions), e.h, e.c, self.temperature, self.generator,
                                                        e.drop, e.score)
        return e.finish_step(reward, done_logit)

    def keep(self, mask) -> None:
        """Drop the episodes where `mask` is False (so finished ones stop costing compute)."""
        self.episodes.keep(self.rows(mask))

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """V's picture of the current latents: (num_envs, 64, 64, 3) uint8."""
        frames = self.world.vae.decode(self.episodes.z)
        return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)
