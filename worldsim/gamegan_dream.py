"""The GameGAN dream: GameGAN renders the game in pixels, one action at a time, while V and M
supply everything else, exactly as in the real game.

The controller sees the same observation as in the V+M dream: [z, h], where z is V's encoding
(its mean) of the frame GameGAN generated and h is M's LSTM state carried along those z's and
the actions taken. Episode ends come from M's done head (calibrated as in BatchedDream: its
training weight on episode ends divided back out, then a Bernoulli draw) and rewards from M's
reward head (or +1 per step survived for survival games). Why: one controller class and one
real-game evaluator (agents.evaluate.LatentController, which tracks [z, h] with V and M) serve
both dreams, so controllers trained in the two dreams are compared like for like; and GameGAN
itself has no done or reward head.

The temperature tau scales GameGAN's per-step noise z_t (noise = tau * N(0, I); tau 0 is
deterministic). All randomness (starting frames, noise, episode ends) comes from one
torch.Generator, so the same seed replays the same trajectories. A GameGAN step is a stack of
convolutions, far dearer than M's one LSTM step: train controllers in this dream with small
populations on a CPU.

Built by composition: worldsim.dream.DreamEpisodes keeps the [z, h] side exactly as in V+M's
dream (so dream dropout, done rules, episode caps and controller inputs act the same), and
GameGAN draws the frames. `compile` fuses M's tracking step as it fuses V+M's dream step;
GameGAN's own step runs eagerly."""
from __future__ import annotations

import torch

from worldsim.dream import Dream
from worldsim.models.gamegan import GameGANState
from worldsim.world_model import GameGANWorld


class BatchedGameGANDream(Dream):
    """N GameGAN dream episodes on one device, with the dreams' common interface (see
    worldsim.dream). Episodes start from real frames: reset draws the first frame of a random
    recorded episode (world.start_frames), reset_to_frames takes given ones.

    temperature None: the run's (world.temperature). dtype: M's matmul dtype as in BatchedDream;
    other than float32 it also runs GameGAN and V under autocast in that dtype (the state stays
    float32)."""

    def __init__(self, world: GameGANWorld, num_envs: int, temperature: float | None = None,
                 max_steps: int | None = None, seed: int | None = None, dtype: torch.dtype = torch.float32,
                 compile: bool = False):
        super().__init__(world, num_envs, temperature, max_steps, seed, dtype, compile)
        self.gamegan, self.amp_dtype = world.gamegan, dtype
        self.state = self._initial(torch.zeros(num_envs, 64, 64, 3, dtype=torch.uint8, device=self.device))

    def _amp(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype != torch.float32)

    def _initial(self, frames: torch.Tensor) -> GameGANState:
        """GameGAN's state before the first action, from uint8 frames (n, 64, 64, 3)."""
        with self._amp():
            state = self.gamegan.init_state(frames)
        return _float(state)

    def _encode(self, frames: torch.Tensor) -> torch.Tensor:
        """V's z (its mean) of float frames (n, 3, 64, 64) in [0, 1], quantised to the 8-bit
        picture render() shows, as V reads the real game's frames."""
        pixels = frames.clamp(0, 1).mul(255).round().div(255)
        with self._amp():
            mu, _ = self.world.vae.encode(pixels)
        return mu.float()

    @torch.no_grad()
    def reset(self, mask=None, seeds=None) -> torch.Tensor:
        """Start new episodes where `mask` is True (all when None) from the first frames of
        randomly picked real episodes."""
        mask = self.rows(mask, seeds)
        n = int(mask.sum())
        if n:
            starts = self.world.start_frames
            pick = torch.randint(len(starts), (n,), device=self.device, generator=self.generator)
            self._start(mask, starts[pick])
        return self.obs

    @torch.no_grad()
    def reset_to_frames(self, frames) -> torch.Tensor:
        """Start every episode afresh from the given real frames (num_envs, 64, 64, 3) uint8, e.g.
        the real game's first frame, so the dream can be compared step by step with the real game."""
        frames = torch.as_tensor(frames, device=self.device).reshape(self.num_envs, 64, 64, 3)
        self._start(torch.ones(self.num_envs, dtype=torch.bool, device=self.device), frames)
        return self.obs

    def _start(self, mask: torch.Tensor, frames: torch.Tensor) -> None:
        """Rows `mask` start from `frames` (mask.sum(), 64, 64, 3) uint8."""
        fresh = self._initial(frames)
        if bool(mask.all()):
            self.state = fresh
        else:
            self.state = GameGANState(*(None if old is None else _merge(old, mask, new)
                                        for old, new in zip(self.state, fresh)))
        self.episodes.start(mask, self._encode(fresh.frame))

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """actions: (num_envs,) indices or (num_envs, action_dim). M reads (z_t, a_t) for the
        episode end and the reward, GameGAN renders x_{t+1} and V encodes it to z_{t+1}. Returns
        obs, reward, terminated, truncated, each with num_envs rows."""
        e = self.episodes
        actions = self.actions(actions)
        out, e.h, e.c = self.m(e.z, actions, e.h, e.c, e.drop, e.score)
        noise_dim = self.gamegan.config.noise_dim
        if self.temperature > 0:
            noise = self.temperature * torch.randn(self.num_envs, noise_dim, device=self.device,
                                                   generator=self.generator)
        else:
            noise = torch.zeros(self.num_envs, noise_dim, device=self.device)
        with self._amp():
            state, _ = self.gamegan.step(self.state, actions, noise)
        self.state = _float(state)
        e.z = self._encode(self.state.frame)
        return e.finish_step(out.reward[:, -1], out.done_logit[:, -1])

    def keep(self, mask) -> None:
        """Drop the episodes where `mask` is False (so finished ones stop costing compute)."""
        mask = self.rows(mask)
        self.episodes.keep(mask)
        self.state = GameGANState(*(None if x is None else x[mask] for x in self.state))

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """GameGAN's current frames: (num_envs, 64, 64, 3) uint8."""
        return (self.state.frame.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)


def _float(state: GameGANState) -> GameGANState:
    """The state in float32 (autocast computes in a lower precision; the state carries on in full)."""
    return GameGANState(*(None if x is None else x.float() for x in state))


def _merge(old: torch.Tensor, mask: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """old with its rows `mask` replaced by new (a copy: the state's tensors may be shared views)."""
    merged = old.clone()
    merged[mask] = new
    return merged
