"""Everything worldsim knows about one real game, in one place: its action space and what the
actions mean, how a controller's output maps onto them, how the exploration policy plays it,
which keys a person presses, and the sizes a world model of it gets by default.

Cheap to build (no game process is started), so dream environments, controllers, data
collection and the config can size themselves from it. Adding a ViZDoom scenario or an ALE game
means describing it here, in its adapter's `info()`, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

CONTROLLER_OUTPUTS = ("continuous", "threshold", "argmax")
"""How a linear controller's output becomes an action (agents.controller.ControllerSpec):
tanh rescaled to a Box's bounds; the World Models paper's -1/3, +1/3 thresholds on one tanh
output for three actions ordered left / stay / right; or an argmax over the actions."""


@dataclass(frozen=True)
class GameInfo:
    """Static facts about one real game, as `envs.make` builds it."""

    name: str
    """Canonical name, e.g. "Doom/TakeCover"; `envs.make(name)` builds the game."""
    family: str
    """"carracing", "doom" or "atari"."""
    action_space: gymnasium.Space
    """The action space of the env that `envs.make(name)` returns."""
    survival_reward: bool
    """True when the reward is +1 per step survived, so a world model need not predict it."""
    max_episode_steps: int
    """Agent steps after which an episode is truncated."""
    frame_skip: int
    """Game frames (tics) advanced per agent step."""
    sticky_actions: float = 0.0
    """Chance that the game repeats the previous action instead of the given one when an agent is
    scored (envs.make(name, evaluation=True); Atari's standard 0.25). Play recorded for a world
    model never has it, so every recorded action is the one that acted."""
    action_labels: tuple[str, ...] = ()
    """Discrete games: each action's name, in index order, spelled with the buttons it presses
    (ALE's meanings such as "UPFIRE"; Doom TakeCover "LEFT", "NOOP", "RIGHT"); () for a Box."""
    opposite_actions: tuple[tuple[int, int], ...] = ()
    """Pairs of discrete actions that mirror each other (left / right): GameGAN's memory shares
    flipped shift kernels between them, and the comparison's memory check goes out with the
    first and back with the second."""
    controller_output: str = "argmax"
    """How C's output becomes an action: one of CONTROLLER_OUTPUTS."""
    clipped_outputs: tuple[int, ...] = ()
    """Box action dimensions C sets to tanh clipped to [low, high] instead of tanh rescaled to it
    (CarRacing's brake, as the paper's controller does)."""
    exploration_policies: tuple[str, ...] = ("held",)
    """Names of the policies that can record its world-model data (agents.exploration), the
    default first."""
    hold_steps: tuple[int, int] = (1, 1)
    """The "held" exploration policy holds each random action for this many steps (low, high)."""
    ball_and_paddle: tuple[str, str] = ()
    """Paddle games: where the ball and the player's paddle show in the 64x64 frame, as object specs
    (worldsim.data.frames.parse_object: "NAME:R,G,B@R0-R1,C0-C1"), read by the "follow" exploration
    policy and the Atari benchmarks; () for other games. A ball of colour 'any' is every pixel inside
    its box that differs from the box's own median colour (Pong's ball, blended into the orange
    field by the resize in runs recorded before it was grown, had no one colour)."""
    paddle_follow: dict[str, Any] = field(default_factory=dict)
    """The "follow" exploration's settings where the game's paddle needs its own (agents.exploration.
    BallFollowingPolicy's class attributes by lower-case name, e.g. Pong's {"dead_zone": 3.0}); {}:
    the class's."""
    paddle_axis: str = "columns"
    """The frame axis the player's paddle moves along: "columns" (Breakout, LEFT / RIGHT) or "rows"
    (Pong, UP / DOWN, spelled through key_aliases)."""
    keys: str = ""
    """How a person plays it from the keyboard (worldsim.apps.keymap): "driving" (arrows steer, gas,
    brake), "buttons" (the action whose label presses the held buttons), or "" (no mapping)."""
    key_aliases: dict[str, str] = field(default_factory=dict)
    """Buttons read as others when pressed: Pong's paddle goes up with ALE's RIGHT."""
    frames: str = ""
    """How the adapter makes its 64x64 frame from the screen, where that has changed over time
    (Atari: "area" resize, or "grown RxC, area" for games whose sprites are grown first). A run
    records it when it collects; its later stages refuse to go on when the game now makes its frames
    another way (worldsim.apps.pipeline.check_frames)."""
    one_life: bool = False
    """Recorded episodes end at the first lost life (Atari's ONE_LIFE games): a world model of it
    learns one life, its dream plays one; an agent is still scored over the whole game."""
    points_to_win: int = 0
    """A game that ends as soon as either side has won this many points (Pong 21): a dream that
    pays points ends its episode there too, since M's done head learns the rule only from recorded
    games that reached it on that side; 0, no such rule."""
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Config values for fields a preset leaves unset ({section: {field: value}}, see
    worldsim.config.resolve): the paper's z and LSTM sizes, episode counts and M's steps."""
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Config values a new run of this game starts from in place of the paper's ({section: {field:
    value}}, any preset, see worldsim.config.tune): what measurement showed the game needs (Atari's
    V, docs/RESULTS.md). A value given on the command line wins; a stored run keeps its own."""

    def __post_init__(self):
        if self.controller_output not in CONTROLLER_OUTPUTS:
            raise ValueError(f"{self.name}: unknown controller output {self.controller_output!r}")
        if self.points_to_win < 0:
            raise ValueError(f"{self.name}: points_to_win must be 0 (no such rule) or a number of points, "
                             f"not {self.points_to_win}")
        if self.paddle_axis not in ("columns", "rows"):
            raise ValueError(f"{self.name}: paddle_axis must be 'columns' or 'rows', not {self.paddle_axis!r}")

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def discrete(self) -> bool:
        """Whether the actions are indices (Discrete) rather than vectors (Box)."""
        return isinstance(self.action_space, gymnasium.spaces.Discrete)

    @property
    def paddle_moves(self) -> tuple[str, str]:
        """The action labels that move the paddle toward lower and toward higher paddle_axis
        coordinates: (LEFT, RIGHT) along columns, (UP, DOWN) along rows, as key_aliases spell them."""
        low, high = ("LEFT", "RIGHT") if self.paddle_axis == "columns" else ("UP", "DOWN")
        return self.key_aliases.get(low, low), self.key_aliases.get(high, high)

    @property
    def num_actions(self) -> int:
        """Discrete: how many actions; Box: the action vector's length."""
        if self.discrete:
            return int(self.action_space.n)
        return int(gymnasium.spaces.flatdim(self.action_space))
