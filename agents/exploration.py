"""Random-but-sensible policies that collect a world model's training data from real
games, one batch of actions per step for N parallel envs (a gymnasium vector env).

    policy = make_exploration_policy(envs.info("Doom"), num_envs=8, seed=0)
    actions = policy.act(frames)      # frames (8, 64, 64, 3) uint8 -> (8,) int64
    policy.reset(terminated | truncated)

Only CarRacing's road follower and the paddle games' ball follower look at the frames; the
others ignore them.
"""

from __future__ import annotations

from typing import Protocol

import gymnasium
import numpy as np

from envs import GameInfo
from worldsim.data.frames import object_centres, parse_object


class ExplorationPolicy(Protocol):
    num_envs: int
    needs_frames: bool
    """Whether act() looks at the frames; a caller that would have to render them (a dream)
    may pass None when it does not."""

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        """One action per env for this step, valid for the game's action space, given each
        env's current frame, (num_envs, 64, 64, 3) uint8."""

    def reset(self, mask: np.ndarray) -> None:
        """Start afresh for the envs where `mask` (bool, (N,)) is True: a new episode began."""


class HeldRandomPolicy:
    """Uniform random discrete actions, each held for a uniform random 1..k steps.

    Holding makes the data show what an action does over time, which per-step
    uniform noise (jittering in place) would not.
    """

    needs_frames = False

    def __init__(self, num_actions: int, num_envs: int, hold_steps: tuple[int, int], seed: int):
        self.num_actions, self.num_envs = num_actions, num_envs
        self.min_hold, self.max_hold = hold_steps
        self._rng = np.random.default_rng(seed)
        self._action = np.zeros(num_envs, dtype=np.int64)
        self._steps_left = np.zeros(num_envs, dtype=np.int64)  # 0: draw a new action

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        expired = self._steps_left == 0
        count = int(expired.sum())
        self._action[expired] = self._rng.integers(self.num_actions, size=count)
        self._steps_left[expired] = self._rng.integers(self.min_hold, self.max_hold + 1, size=count)
        self._steps_left -= 1
        return self._action.copy()

    def reset(self, mask: np.ndarray) -> None:
        self._steps_left[mask] = 0


class SmoothDrivingPolicy:
    """CarRacing driving noise: steering is a slow mean-reverting random walk
    (Ornstein-Uhlenbeck) so the car turns both ways and leaves the track at times;
    gas wanders around 0.65 and mostly stays on; the brake is off except for short
    taps, during which the gas is released.
    """

    STEER_PULL, STEER_NOISE = 0.02, 0.06
    """Per-step pull toward 0 and noise: steering spreads ~0.3 and drifts over ~50 steps."""
    GAS_MEAN, GAS_PULL, GAS_NOISE = 0.65, 0.05, 0.05
    BRAKE_CHANCE, BRAKE_STEPS, BRAKE_FORCE = 0.01, (3, 10), (0.3, 0.8)
    """Per-step chance of starting a tap, its length in steps, its strength."""
    needs_frames = False

    def __init__(self, action_space: gymnasium.spaces.Box, num_envs: int, seed: int):
        self.low, self.high = action_space.low, action_space.high  # steer, gas, brake
        self.num_envs = num_envs
        self._rng = np.random.default_rng(seed)
        self._steer = np.zeros(num_envs)
        self._gas = np.zeros(num_envs)
        self._brake = np.zeros(num_envs)
        self._brake_steps_left = np.zeros(num_envs, dtype=np.int64)
        self.reset(np.ones(num_envs, dtype=bool))

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        steer = self._drift(self._steer, 0.0, self.STEER_PULL, self.STEER_NOISE)
        self._steer = steer.clip(self.low[0], self.high[0])
        gas = self._drift(self._gas, self.GAS_MEAN, self.GAS_PULL, self.GAS_NOISE)
        self._gas = gas.clip(self.low[1], self.high[1])
        self._start_brake_taps()
        braking = self._brake_steps_left > 0
        gas = np.where(braking, 0.0, self._gas)
        brake = np.where(braking, self._brake, 0.0)
        self._brake_steps_left = np.maximum(self._brake_steps_left - 1, 0)
        return np.stack([self._steer, gas, brake], axis=1).astype(np.float32)  # (num_envs, 3)

    def reset(self, mask: np.ndarray) -> None:
        count = int(mask.sum())
        self._steer[mask] = self._rng.uniform(-0.3, 0.3, size=count)
        self._gas[mask] = self._rng.uniform(0.3, 1.0, size=count)
        self._brake_steps_left[mask] = 0

    def _drift(self, value: np.ndarray, mean: float, pull: float, noise: float) -> np.ndarray:
        """One Ornstein-Uhlenbeck step: pulled toward `mean`, plus Gaussian noise."""
        return value + pull * (mean - value) + noise * self._rng.standard_normal(len(value))

    def _start_brake_taps(self) -> None:
        idle = self._brake_steps_left == 0
        start = idle & (self._rng.random(len(idle)) < self.BRAKE_CHANCE)
        count = int(start.sum())
        low, high = self.BRAKE_STEPS
        self._brake_steps_left[start] = self._rng.integers(low, high + 1, size=count)
        self._brake[start] = self._rng.uniform(*self.BRAKE_FORCE, size=count)


class RoadFollowingPolicy(SmoothDrivingPolicy):
    """CarRacing driving that mostly stays on the road, so the data shows tiles being earned:
    steer toward the middle of the grey road just ahead of the car in the frame, plus the
    drifting steering of SmoothDrivingPolicy as noise, at a gentler gas. Now and then an
    excursion ignores the road for a while (drift alone), so the data also shows leaving the
    road and, when the road stays in view, finding it again.
    """

    GAS_MEAN = 0.3
    """Slow enough to take most bends by steering alone."""
    LOOK_ROWS, SEARCH_ROWS = slice(40, 48), slice(24, 64)
    """Rows of the 64x64 frame just ahead of the car (it sits at rows ~50-58), and the rows
    searched for road when none is just ahead."""
    CAR_COLUMN, GAIN = 31.5, 2.0
    """The car's column in the frame; steering per half-frame-width of offset to the road."""
    NOISE_SCALE = 0.5
    """Share of the drifting steering added to the road-following steering."""
    EXCURSION_CHANCE, EXCURSION_STEPS = 1 / 300, (30, 80)
    needs_frames = True

    def __init__(self, action_space: gymnasium.spaces.Box, num_envs: int, seed: int):
        self._excursion_steps_left = np.zeros(num_envs, dtype=np.int64)
        super().__init__(action_space, num_envs, seed)

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        actions = super().act(frames)
        follow = self.GAIN * (road_column(frames, self.LOOK_ROWS, self.SEARCH_ROWS) - self.CAR_COLUMN) / 32
        idle = self._excursion_steps_left == 0
        start = idle & (self._rng.random(len(idle)) < self.EXCURSION_CHANCE)
        self._excursion_steps_left[start] = self._rng.integers(*self.EXCURSION_STEPS, size=int(start.sum()))
        excursion = (self._excursion_steps_left > 0) | np.isnan(follow)
        self._excursion_steps_left = np.maximum(self._excursion_steps_left - 1, 0)
        steer = np.where(excursion, self._steer, np.nan_to_num(follow) + self.NOISE_SCALE * self._steer)
        actions[:, 0] = steer.clip(self.low[0], self.high[0])
        return actions

    def reset(self, mask: np.ndarray) -> None:
        super().reset(mask)
        self._excursion_steps_left[mask] = 0


class BallFollowingPolicy(HeldRandomPolicy):
    """Paddle games (Breakout, Pong): stretches of play that move the paddle toward the ball, between
    stretches of held random actions, so the data shows the ball met and sent back (into Breakout's
    bricks, past Pong's opponent), which random play rarely does (the tests ask for more than twice
    its points), and missed. The paddle moves along the game's paddle_axis (Pong's along the rows),
    and a game may set its own dead zone, braking, aim spread, lead and follow share
    (GameInfo.paddle_follow; the class's values below otherwise).

    Each stretch lasts as long as a held random action (game_info.hold_steps) and follows the ball
    with the episode's chance `share` (drawn per episode from FOLLOW_SHARE, so some episodes play
    nearly at random and some nearly always follow). A following stretch steers toward the ball's
    position as the frame shows it, led by the episode's `lead` steps of its velocity and
    offset by the stretch's own aim error (AIM_SPREAD), and presses FIRE where no ball shows (to
    serve); a random stretch is HeldRandomPolicy's. Where the paddle is hidden (Pong's behind a wall)
    it is followed from where it was last seen.
    """

    FOLLOW_SHARE = (0.25, 1.0)
    """Per episode: the chance that a stretch follows the ball (uniform between these)."""
    LEAD = (1.0, 3.0)
    """Per episode: steps of the ball's velocity the following aims ahead (uniform)."""
    DEAD_ZONE = 1.0
    """Pixels of the 64x64 frame: no move while the aim is this close to the paddle's centre."""
    BRAKE = 0.0
    """Steps of the paddle's own velocity taken off the gap to the aim: a paddle that drifts on
    after its button is let go (Pong's) is let go earlier."""
    AIM_SPREAD = (0.0, 8.0)
    """Per episode: the largest aim error, in pixels of the 64x64 frame (uniform between these).
    Each following stretch aims at the ball's column plus its own error, uniform within that
    episode's largest either side, so the ball is met at every point of the paddle (Breakout's
    grown paddle is ~8 px wide) and missed at several distances, where an exact follower meets it
    at the centre or, in its random stretches, far off (docs/RESULTS.md, "Breakout: a follower
    that errs on purpose")."""
    needs_frames = True

    def __init__(self, game_info: GameInfo, num_envs: int, seed: int, aim_spread: tuple[float, float] | None = None):
        """aim_spread: the aim spread for this policy (None: the game's, else the class's)."""
        if len(game_info.ball_and_paddle) != 2:
            raise ValueError(f"{game_info.name}: the 'follow' exploration needs the game's ball_and_paddle")
        super().__init__(game_info.num_actions, num_envs, game_info.hold_steps, seed)
        labels = game_info.action_labels
        self.noop, self.fire, self.lower, self.higher = (labels.index(name) for name in ("NOOP", "FIRE", *game_info.paddle_moves))
        self.axis = 1 if game_info.paddle_axis == "columns" else 0
        self.ball, self.paddle = (parse_object(spec)[1:] for spec in game_info.ball_and_paddle)
        own = game_info.paddle_follow
        unknown = set(own) - {"dead_zone", "brake", "aim_spread", "follow_share", "lead"}
        if unknown:
            raise ValueError(f"{game_info.name}: unknown paddle_follow settings {sorted(unknown)}")
        self.dead_zone, self.brake = own.get("dead_zone", self.DEAD_ZONE), own.get("brake", self.BRAKE)
        self.follow_share, self.lead = own.get("follow_share", self.FOLLOW_SHARE), own.get("lead", self.LEAD)
        self.aim_spread = own.get("aim_spread", self.AIM_SPREAD) if aim_spread is None else aim_spread
        self._share, self._lead = np.zeros(num_envs), np.zeros(num_envs)
        self._spread, self._aim_error = np.zeros(num_envs), np.zeros(num_envs)
        self._following = np.zeros(num_envs, dtype=bool)
        self._last_ball = np.full(num_envs, np.nan)  # the ball's position a step ago (NaN: unseen)
        self._paddle = np.full(num_envs, np.nan)  # where the paddle was last seen (NaN: never)
        self.reset(np.ones(num_envs, dtype=bool))

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        starting = self._steps_left == 0
        self._following[starting] = self._rng.random(int(starting.sum())) < self._share[starting]
        self._aim_error[starting] = self._rng.uniform(-1.0, 1.0, int(starting.sum())) * self._spread[starting]
        held = super().act(frames)
        ball, seen = object_centres(frames, *self.ball, box_background(frames, *self.ball))
        paddle, paddle_seen = object_centres(frames, *self.paddle, box_background(frames, *self.paddle))
        position = np.where(seen, ball[:, self.axis], np.nan)
        velocity = np.nan_to_num(position - self._last_ball)
        self._last_ball = position
        now = np.where(paddle_seen, paddle[:, self.axis], self._paddle)  # hidden behind a wall: where it was
        paddle_velocity = np.where(paddle_seen, np.nan_to_num(now - self._paddle), 0.0)
        self._paddle = now
        aim = position + self._lead * velocity + self._aim_error
        gap = np.where(seen & ~np.isnan(now), aim - now - self.brake * paddle_velocity, 0.0)
        follow = np.where(gap > self.dead_zone, self.higher, np.where(gap < -self.dead_zone, self.lower, self.noop))
        follow = np.where(seen, follow, self.fire)
        return np.where(self._following, follow, held)

    def reset(self, mask: np.ndarray) -> None:
        super().reset(mask)
        count = int(mask.sum())
        self._share[mask] = self._rng.uniform(*self.follow_share, size=count)
        self._lead[mask] = self._rng.uniform(*self.lead, size=count)
        self._spread[mask] = self._rng.uniform(*self.aim_spread, size=count)
        self._last_ball[mask] = np.nan
        self._paddle[mask] = np.nan


def box_background(frames: np.ndarray, colour, box) -> np.ndarray | None:
    """For an object of colour 'any' (None): each frame's median colour inside the object's box,
    (N, 1, 1, 3), what object_centres compares the pixels with (the field a small ball moves over);
    None for an object of one colour."""
    if colour is not None:
        return None
    inside = frames if box is None else frames[:, box[0], box[1]]
    return np.median(inside, axis=(1, 2))[:, None, None, :]


def road_column(frames: np.ndarray, look: slice, search: slice) -> np.ndarray:
    """(N,) mean column of road pixels (grey: equal channels, mid brightness) in the `look`
    rows of each (N, 64, 64, 3) frame, else in the `search` rows; NaN where there is none."""
    pixels = frames.astype(np.int16)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    road = (np.abs(red - green) < 20) & (np.abs(green - blue) < 20) & (red > 80) & (red < 170)  # (N, H, W)
    columns = np.arange(frames.shape[2], dtype=np.float64)
    centers = np.full(len(frames), np.nan)
    for rows in (search, look):  # the look rows, where they show road, override the search
        counts = road[:, rows].sum(axis=(1, 2))
        seen = counts > 0
        centers[seen] = (road[:, rows].sum(axis=1) @ columns)[seen] / counts[seen]
    return centers


def policy_seed(game_seed: int) -> int:
    """The exploration policy's seed for the episode with this game seed (the same on every machine)."""
    return int(np.random.SeedSequence([int(game_seed), 1]).generate_state(1)[0])


def episode_exploration(game_info: GameInfo, game_seed: int, name: str = "") -> ExplorationPolicy:
    """One episode's exploration policy `name` (one row), seeded from the episode's game seed: the
    same play for the same seed in any process and on any machine (agents.collect, agents.cluster)."""
    return make_exploration_policy(game_info, 1, policy_seed(game_seed), name)


class EpisodeSeeded:
    """The exploration policy for `num_envs` game processes, one single-row policy per process made
    afresh for each episode from its game seed (episode_exploration, through the rollout's
    start_episodes), so what an episode plays depends neither on which process or machine plays
    it nor on what the process played before."""

    def __init__(self, game_info: GameInfo, num_envs: int, name: str = ""):
        self.game_info, self.name = game_info, name
        self.rows = [episode_exploration(game_info, 0, name) for _ in range(num_envs)]
        self.needs_frames = self.rows[0].needs_frames

    def start_episodes(self, rows, seeds) -> None:
        for row, game_seed in zip(rows, seeds):
            self.rows[row] = episode_exploration(self.game_info, game_seed, self.name)

    def reset(self, mask: np.ndarray) -> None:
        """Each new episode gets a new policy (start_episodes); nothing to clear here."""

    def act(self, frames: np.ndarray | None) -> np.ndarray:
        return np.concatenate([policy.act(None if frames is None else frames[row : row + 1])
                               for row, policy in enumerate(self.rows)])


def make_exploration_policy(game_info: GameInfo, num_envs: int, seed: int, name: str = "") -> ExplorationPolicy:
    """The data-collection policy `name` ('': the game's default, game_info.exploration_policies
    lists them) for a game, deterministic given `seed`."""
    known = game_info.exploration_policies
    name = name or known[0]
    if name not in known:
        raise ValueError(f"unknown exploration policy {name!r} for {game_info.name}; known: {', '.join(known)}")
    if name == "road":
        return RoadFollowingPolicy(game_info.action_space, num_envs, seed)
    if name == "drift":
        return SmoothDrivingPolicy(game_info.action_space, num_envs, seed)
    if name == "follow":
        return BallFollowingPolicy(game_info, num_envs, seed)
    if name == "follow-exact":
        return BallFollowingPolicy(game_info, num_envs, seed, aim_spread=(0.0, 0.0))
    return HeldRandomPolicy(game_info.num_actions, num_envs, game_info.hold_steps, seed)
