"""Any single-player ALE game as gymnasium's "ALE/<Game>-v5" (frameskip 4, minimal action set),
with the full RGB frame resized to 64x64. Sticky actions (v5's repeat probability 0.25: a quarter
of the time the emulator repeats the previous action instead of the one given) are on where an
agent is scored, as published Atari results are, and off where play is recorded for a world
model, so that every recorded action is the one that acted.
"""

from __future__ import annotations

import functools

import ale_py
import cv2
import gymnasium
import numpy as np
from gymnasium.wrappers import ResizeObservation, TransformObservation

from envs.game_info import GameInfo

gymnasium.register_envs(ale_py)

FRAME_SIZE = 64
FRAME_SKIP = 4
EPISODE_STEPS = 108_000 // FRAME_SKIP
"""v5 stops an episode after 108000 emulator frames (30 minutes at 60 Hz)."""


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


@functools.cache
def _games() -> dict[str, str]:
    """Squashed name -> ALE name ("spaceinvaders" -> "SpaceInvaders").

    Read from the "ALE/*-v5" ids that ale_py registers: its ROM list minus the four
    two-player-only ROMs, which have no single-player env.
    """
    prefix, suffix = "ALE/", "-v5"
    return {
        _squash(env_id[len(prefix) : -len(suffix)]): env_id[len(prefix) : -len(suffix)]
        for env_id in gymnasium.registry
        if env_id.startswith(prefix) and env_id.endswith(suffix)
    }


def names() -> list[str]:
    """Every ALE game name, e.g. "Pong", "SpaceInvaders"."""
    return sorted(_games().values())


def game_from_name(game: str) -> str | None:
    """ALE name for "Pong", "pong" or "space_invaders"; None if ALE has no such game."""
    return _games().get(_squash(game)) if game else None


STICKY_ACTIONS = 0.25
"""v5's repeat_action_probability: the standard protocol for scoring an agent (Machado et al. 2018)."""


SERVED = ("Breakout",)
"""Games where the ball comes into play only when FIRE is pressed, after the start and after each
lost life. Where an agent is scored, the adapter presses FIRE for it there (ServeWithFire): the
dream, learned from random play that presses FIRE within a few steps of every serve, never
learned that the ball waits, so a dream-trained controller that never fires would stand beside a
ball that never comes, until the 108,000-frame limit."""


class ServeWithFire(gymnasium.Wrapper):
    """Presses FIRE after a reset and after each lost life (the FireReset wrapper of DQN
    reproductions), for PRESSES steps; the agent does not see those steps, their reward is added
    to the step before."""

    PRESSES = 2
    """Steps of FIRE per serve: with sticky actions one step of FIRE can be lost entirely (all its
    4 frames repeat the previous action, p = 0.25^4 = 0.004, and a lost serve stalls the game for
    good); two make that 1.5e-5. Once the ball is in play, FIRE does nothing."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self.fire = env.unwrapped.get_action_meanings().index("FIRE")
        self.lives = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self._serve()
        if terminated or truncated:
            return self.env.reset(**kwargs)
        self.lives = info.get("lives", 0)
        return obs, info

    def _serve(self):
        reward = 0.0
        for _ in range(self.PRESSES):
            obs, served, terminated, truncated, info = self.env.step(self.fire)
            reward += served
            if terminated or truncated:
                break
        return obs, reward, terminated, truncated, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = info.get("lives", 0)
        if lives < self.lives and not (terminated or truncated):
            obs, served, terminated, truncated, info = self._serve()
            reward += served
        self.lives = info.get("lives", 0)
        return obs, reward, terminated, truncated, info


ONE_LIFE = ("Breakout",)
"""Games whose recorded episodes end at the first lost life (where play is recorded for a world model;
an agent is scored over the whole game). A lost life is then an episode's end, which M's done head
learns from the frames where it happens (the ball passing the paddle), instead of having to count
five lives from the digit V draws at the top of the screen: a dream that misses the last of five
losses never ends, and a controller trained in it learns to keep it going (docs/RESULTS.md,
"Breakout: play that follows the ball, and one life per episode")."""


class EndAtLifeLost(gymnasium.Wrapper):
    """Ends the episode (terminated) at the first step that loses a life."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = info.get("lives", 0)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or info.get("lives", 0) < self.lives, truncated, info


GROWN = {"Breakout": (7, 5), "Pong": (7, 5)}
"""Games whose sprites are grown before the resize, as (rows, columns) of the screen's pixels:
each channel's maximum over that box (a grey dilation), or for a game in GROWN_OVER only its
ball's pixels. Breakout's ball is 2 x 4 pixels of the 210 x 160 screen, less than one pixel of the
64 x 64 frame after the area resize, blended with the black around it; grown to 6 x 10 it covers
at least two whole pixels at its own colour (tests/test_envs.py). Grown on a black screen, objects
keep their colour and grow; their positions are unchanged. Pong's ball is the same size."""

GROWN_OVER = {"Pong": ((236, 236, 236), (144, 72, 17), (34, 194))}
"""Games where only the ball grows, as (its colour, the field's colour it grows over, the screen
rows of the field [start, stop)): Pong's white ball on its orange field. A grey dilation of the
whole screen would paint Pong's green paddle with the field's red (each channel takes its own
maximum), and the white walls above and below the field would grow into it."""


def frame_preparation(game: str) -> str:
    """GameInfo.frames: "grown RxC, area" for a game in GROWN (with the ball's colour, the field's
    and its rows for a game in GROWN_OVER), else "area" (every Atari run recorded before GROWN
    existed, and Pong's before GROWN_OVER)."""
    if game not in GROWN:
        return "area"
    rows, columns = GROWN[game]
    if game in GROWN_OVER:
        ball, field, (start, stop) = GROWN_OVER[game]
        return (f"grown {rows}x{columns} of {','.join(map(str, ball))} over {','.join(map(str, field))} "
                f"in rows {start}-{stop - 1}, area")
    return f"grown {rows}x{columns}, area"


def grow_objects(frame: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Each channel's maximum over a rows x columns box around each pixel."""
    return cv2.dilate(frame, np.ones((rows, columns), np.uint8))


def grow_ball(frame: np.ndarray, rows: int, columns: int, ball: tuple[int, int, int], field: tuple[int, int, int],
              field_rows: tuple[int, int]) -> np.ndarray:
    """The pixels of the ball's colour in the field's rows grown over a rows x columns box each,
    painted in the ball's colour where the field's colour was; everything else as it was."""
    start, stop = field_rows
    inside = frame[start:stop]
    ball, field = np.array(ball, np.uint8), np.array(field, np.uint8)
    grown = cv2.dilate(cv2.inRange(inside, ball, ball), np.ones((rows, columns), np.uint8))  # 255 where grown
    out = frame.copy()
    out[start:stop][cv2.bitwise_and(grown, cv2.inRange(inside, field, field)) > 0] = ball
    return out


def grower(game: str):
    """The function make() applies to each screen of a game in GROWN."""
    rows, columns = GROWN[game]
    if game in GROWN_OVER:
        return lambda frame: grow_ball(frame, rows, columns, *GROWN_OVER[game])
    return lambda frame: grow_objects(frame, rows, columns)


def make(game: str, render_mode: str | None = None, evaluation: bool = False) -> gymnasium.Env:
    """ALE/<game>-v5 with 64x64x3 uint8 observations (INTER_AREA resize, after growing the
    sprites of the games in GROWN); sticky actions, and the serve pressed in the games that need
    it (SERVED), only for `evaluation` (see the module's docstring); one life per episode in the
    games of ONE_LIFE, only where play is recorded (not for `evaluation`)."""
    env = gymnasium.make(f"ALE/{game}-v5", render_mode=render_mode,
                         repeat_action_probability=STICKY_ACTIONS if evaluation else 0.0)
    if evaluation and game in SERVED:
        env = ServeWithFire(env)
    if not evaluation and game in ONE_LIFE:
        env = EndAtLifeLost(env)
    if game in GROWN:
        env = TransformObservation(env, grower(game), env.observation_space)
    return ResizeObservation(env, (FRAME_SIZE, FRAME_SIZE))


DEFAULTS = {"collect": {"episodes": 200}, "vae": {"z_dim": 32, "epochs": 2},
            "mdnrnn": {"hidden": 256, "steps": 5000, "reward": "classes"}, "controller": {"generations": 30},
            "iterate": {"rounds": 0}}
"""Sizes of an Atari world model: z 32 and LSTM 256 as for CarRacing; 200 random episodes of
several hundred steps each (~100k-200k frames) for the `default` preset, and two passes of V over
them (on Pong's 180k frames z holds the opponent and the ball after one, the agent's paddle only
after two). M classifies the step's reward among the points the game pays (Pong's -1, 0, +1)
rather than regressing it."""

GAME_DEFAULTS = {"Breakout": {"collect": {"episodes": 2200}, "controller": {"generations": 100}}}
"""Where one game differs from DEFAULTS: Breakout records one life per episode (ONE_LIFE), ~80 steps
of the ball follower's play, so 2,200 episodes give V about as many frames as Pong's 200 episodes
of ~900 steps; and its C trains for 100 CMA-ES generations, where the dream's population mean was
still rising at 30 (about 4 more minutes; seed 0: 6.55 -> 10.41 a game, four C seeds: 7.4 -> 8.3 on
average, docs/RESULTS.md, "Breakout: a follower that errs on purpose"; the same defaults on another
machine's V and M, session 31: 11.9-14.1, mean 12.6)."""

TUNING = {"vae": {"background_gain": 4.0, "foreground_weight": 10.0, "lr": 1e-3, "batch_size": 32},
          "gamegan": {"background_gain": 4.0, "motion_kernels": 2}}
"""V and GameGAN for a fixed-camera Atari screen. V (docs/RESULTS.md, "Atari: does V keep the
ball?"): with the paper's V the ball and paddles (~1 % of the pixels) never reach z; reading the
frame minus the background, counting object pixels 10x and taking more, faster steps, z holds
their positions. GameGAN ("Breakout: GameGAN that reads the foreground and moves what it
keeps"): its frame encoder reads the frame minus the background too (the paddle's column from
the encoded frame: R^2 0.02 -> 0.999), and the copy skip can move what it keeps by two learned
shift kernels, so the paddle follows the action."""

GAME_TUNING = {"Pong": {"mdnrnn": {"score_scale": 21.0}}}
"""Where one game's measured settings add to TUNING. Pong ends when a side has 21 points, and V's
drawing of the score is redrawn at every dream step, so an M that reads only z ended dream
episodes at any step; an M that counts the points it pays (mdnrnn.score_scale) ends them where
the game does (docs/RESULTS.md, "Pong: an M that counts the points")."""

HOLD_STEPS = (1, 4)
"""The exploration policy holds each random action for 1-4 agent steps (4-16 frames)."""

BALL_AND_PADDLE = {"Breakout": ("ball:200,72,72@31-55,5-58", "paddle:200,72,72@56-60,4-59"),
                   "Pong": ("ball:any@11-56,9-53", "player:92,186,92@11-56,54-58")}
"""Where the ball and the player's paddle show in the 64x64 frame (GameInfo.ball_and_paddle): both
Breakout's red, the ball (grown, GROWN) between the lowest bricks and the paddle, and both inside
the walls: the marks at the foot of the right wall (columns 60-63, rows 58-59) share the paddle's
colour and rows, and a box to the frame's edge counted them as paddle, pulling its centre up to
23 px toward them (runs before this box, docs/RESULTS.md, "Breakout: the paddle was found 23 px
off"). Pong's ball is every pixel of the field between the two paddles that is not the field's
orange (2 x 4 screen pixels, grown before the resize, GROWN_OVER; in runs recorded before, about one
pixel blended into the orange); the player's green
paddle is looked for below the score (drawn in the same green) and between the walls."""

PADDLE_AXIS = {"Pong": "rows"}
"""Games whose paddle moves along the frame's rows (GameInfo.paddle_axis; the others' along the columns)."""

PADDLE_FOLLOW = {"Pong": {"dead_zone": 3.0, "brake": 1.0, "aim_spread": (0.0, 3.0), "follow_share": (0.5, 1.0)}}
"""The follow exploration's own settings (GameInfo.paddle_follow). Pong's paddle drifts on after its
button is let go, ~6 px a step: always following to within 1 px with no braking, it overshoots both
ways and wins 4.75 points a game; held back by one step of its own velocity and left alone within
3 px (its height is ~5 px), 8.4 (8 games each, benchmarks/follow_play.py, docs/RESULTS.md, "Pong:
play that follows the ball"). Aim errors stay within its height; a stretch follows with a chance of
0.5-1 per game, so games also show the ball missed (5.75 points won a game, ~2,000 steps)."""

EXPLORATION = {"Breakout": ("follow", "follow-exact", "held"), "Pong": ("held", "follow", "follow-exact")}
"""The exploration policies of the games that have more than uniform random play (the default first;
follow-exact aims without error, Breakout's `follow` of runs before session 24). Pong keeps held
random play: on its `follow` data the dream credited a controller +30.6 a game that the real game
paid -20.53, and after two iterate rounds still paid -20.6 (docs/RESULTS.md, "Pong: play that follows
the ball", "Pong: the dream ends at 21"). With C on z alone and the step bonus, 100 games of `follow`
gave a C paid -20.89, two iterate rounds -18.82 in 124 min and -16.31 with 40 more generations
(~145 min), against the default's -19.88 in 38 min (session 32, "Pong: the follower's play alone")."""

POINTS_TO_WIN = {"Pong": 21}
"""Games that end when either side has won this many points (GameInfo.points_to_win)."""

KEY_ALIASES = {"Pong": {"UP": "RIGHT", "DOWN": "LEFT"}}
"""Pong's paddle moves vertically, but ALE names its moves RIGHT (up) and LEFT (down)."""


def info(game: str) -> GameInfo:
    """GameInfo for an ALE name; loads the ROM once to read its minimal action set."""
    env = gymnasium.make(f"ALE/{game}-v5")
    own = GAME_DEFAULTS.get(game, {})
    action_space = env.action_space
    labels = tuple(env.unwrapped.get_action_meanings())
    env.close()
    return GameInfo(
        name=f"Atari/{game}",
        family="atari",
        action_space=action_space,
        survival_reward=False,
        max_episode_steps=EPISODE_STEPS,
        frame_skip=FRAME_SKIP,
        sticky_actions=STICKY_ACTIONS,
        action_labels=labels,
        hold_steps=HOLD_STEPS,
        exploration_policies=EXPLORATION.get(game, ("held",)),
        ball_and_paddle=BALL_AND_PADDLE.get(game, ()),
        paddle_axis=PADDLE_AXIS.get(game, "columns"),
        paddle_follow=PADDLE_FOLLOW.get(game, {}),
        keys="buttons",
        key_aliases=KEY_ALIASES.get(game, {}),
        frames=frame_preparation(game),
        one_life=game in ONE_LIFE,
        points_to_win=POINTS_TO_WIN.get(game, 0),
        defaults=_merged(DEFAULTS, own),
        tuning=_merged(TUNING, GAME_TUNING.get(game, {})),
    )


def _merged(family: dict, own: dict) -> dict:
    """{section: {field: value}} of the family, with one game's own values over them."""
    return {section: {**family.get(section, {}), **own.get(section, {})} for section in {**family, **own}}

