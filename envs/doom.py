"""ViZDoom scenarios (TakeCover by default) as a gymnasium Env with 64x64 RGB frames.

Drives vizdoom.DoomGame directly rather than vizdoom's own gymnasium wrapper, so we
choose the resolution, the discrete action set, seeding and the episode cap.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import cv2
import gymnasium
import numpy as np
import vizdoom

from envs.game_info import GameInfo

FRAME_SIZE = 64
DEFAULT_SCENARIO = "take_cover"
DEFAULT_EPISODE_STEPS = 2100
"""The World Models paper's TakeCover cap (~60 s at 35 tics/s); also used for any
scenario whose cfg sets no episode_timeout."""
ENGINE_DIR = "_vizdoom"
"""The folder the engine keeps in the working directory (relative, as the engine names it)."""

SCENARIOS = (
    "basic",
    "deadly_corridor",
    "deathmatch",
    "defend_the_center",
    "defend_the_line",
    "health_gathering",
    "health_gathering_supreme",
    "my_way_home",
    "predict_position",
    "rocket_basic",
    "simpler_basic",
    "take_cover",
)
"""The single-player scenarios shipped in vizdoom's scenarios dir (cfg stems). Left out:
basic_audio, basic_notifications and learning (basic.wad again, for sensor-buffer
demos), cig, multi and multi_duel (multiplayer maps; two of them segfault in
single-player mode), and doom/doom2/freedoom*/oblige (whole campaigns, not scenarios)."""

SURVIVAL_SCENARIOS = frozenset({"take_cover"})
"""Scenarios whose only reward is +1 per tic alive (wad scripts can add rewards that
the cfg does not show, so this is a list, not derived)."""

ACTION_OVERRIDES: dict[str, tuple[tuple[vizdoom.Button, ...], ...]] = {
    # left / stay / right in this order, so a controller's tanh output thresholded at
    # -1/3 and 1/3 maps onto 0, 1, 2 (as in the World Models paper).
    "take_cover": ((vizdoom.Button.MOVE_LEFT,), (), (vizdoom.Button.MOVE_RIGHT,)),
}
"""Per-scenario discrete actions, each a tuple of buttons held together. Any other
scenario gets action 0 = no-op and action k = the cfg's k-th button alone."""


def camel_case(scenario: str) -> str:
    """take_cover -> TakeCover."""
    return "".join(part.capitalize() for part in scenario.split("_"))


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


_BY_SQUASHED = {_squash(scenario): scenario for scenario in SCENARIOS}

NAMES = tuple(camel_case(scenario) for scenario in SCENARIOS)


def scenario_from_name(game: str) -> str | None:
    """Cfg stem for "TakeCover", "take_cover", "takecover" or "" (the default); None if unknown."""
    if not game:
        return DEFAULT_SCENARIO
    return _BY_SQUASHED.get(_squash(game))


def _load_config(scenario: str) -> vizdoom.DoomGame:
    """A configured DoomGame; loading a cfg starts no game process, init() does."""
    game = vizdoom.DoomGame()
    game.load_config(os.path.join(vizdoom.scenarios_path, f"{scenario}.cfg"))
    return game


def _button_table(scenario: str, buttons: list[vizdoom.Button]) -> np.ndarray:
    """(num_actions, num_buttons) 0/1 table: row a is what action a presses."""
    combos = ACTION_OVERRIDES.get(scenario) or ((),) + tuple((b,) for b in buttons)
    table = np.zeros((len(combos), len(buttons)), dtype=np.float64)
    for action, combo in enumerate(combos):
        for button in combo:
            table[action, buttons.index(button)] = 1.0
    return table


def _episode_steps(game: vizdoom.DoomGame) -> int:
    # vizdoom's episode_timeout counts tics after episode_start_time, i.e. agent steps here.
    return game.get_episode_timeout() or DEFAULT_EPISODE_STEPS


class DoomEnv(gymnasium.Env[np.ndarray, np.int64]):
    """One ViZDoom scenario, one tic per step, observations 64x64x3 uint8 RGB.

    The game process starts on the first reset, so building the env is cheap (vector
    envs build one in the parent just to read the spaces). Once an episode has ended
    vizdoom has no screen, so the final observation repeats the last frame seen.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 35}

    def __init__(self, scenario: str = DEFAULT_SCENARIO, render_mode: str | None = None):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"Doom supports render_mode None or 'rgb_array', got {render_mode!r}")
        self.scenario = scenario
        self.render_mode = render_mode
        self._game = _load_config(scenario)
        self._configure(self._game)
        self._buttons = _button_table(scenario, self._game.get_available_buttons())
        self.action_space = gymnasium.spaces.Discrete(len(self._buttons))
        self.observation_space = gymnasium.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        self._frame = np.zeros(self.observation_space.shape, np.uint8)

    @staticmethod
    def _configure(game: vizdoom.DoomGame) -> None:
        game.set_window_visible(False)
        game.set_mode(vizdoom.Mode.PLAYER)  # synchronous: the game waits for each action
        game.set_sound_enabled(False)
        game.set_audio_buffer_enabled(False)
        game.set_screen_resolution(vizdoom.ScreenResolution.RES_160X120)
        game.set_screen_format(vizdoom.ScreenFormat.RGB24)
        game.set_render_hud(False)
        # The engine writes its settings file on start; keep it out of the caller's cwd.
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "_vizdoom.ini"))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if not self._game.is_running():
            # The engine checks for ./_vizdoom/ and, if missing, makes it (mode 700), and a failed
            # make is fatal: two games starting at once in a fresh working directory can both
            # find it missing, and the slower one dies ("Failed to create ./_vizdoom/ directory:
            # File exists"; seen once in CI, collecting with two game processes). Made here first,
            # where an existing one is no error, the engine finds it and makes nothing.
            os.makedirs(ENGINE_DIR, mode=0o700, exist_ok=True)
            self._game.init()
        # Drawn from np_random so that reset(seed=s) then plain resets replay exactly.
        self._game.set_seed(int(self.np_random.integers(2**31)))
        self._game.new_episode()
        self._read_frame()
        return self._frame.copy(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward = self._game.make_action(self._buttons[int(action)].tolist(), 1)
        finished = self._game.is_episode_finished()
        truncated = finished and self._game.is_episode_timeout_reached()
        if not finished:
            self._read_frame()
        return self._frame.copy(), float(reward), finished and not truncated, truncated, {}

    def render(self) -> np.ndarray | None:
        return self._frame.copy() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self._game.close()

    def _read_frame(self) -> None:
        screen = self._game.get_state().screen_buffer  # (120, 160, 3) RGB
        self._frame = cv2.resize(screen, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA)


# Registered so that gymnasium.make adds its usual wrappers (order enforcing, passive
# checker, TimeLimit) and a spec, which vector envs and check_env rely on.
GYMNASIUM_ID = "envs/Doom-v0"
if GYMNASIUM_ID not in gymnasium.registry:
    gymnasium.register(GYMNASIUM_ID, entry_point=DoomEnv)


def make(scenario: str, render_mode: str | None = None) -> gymnasium.Env:
    """DoomEnv for a cfg stem, truncated at the cfg's episode_timeout (else 2100 steps)."""
    cap = _episode_steps(_load_config(scenario))
    return gymnasium.make(
        GYMNASIUM_ID, scenario=scenario, render_mode=render_mode, max_episode_steps=cap
    )


DEFAULTS = {"collect": {"episodes": 2000}, "vae": {"z_dim": 64, "epochs": 1},
            "mdnrnn": {"hidden": 512, "steps": 10_000}, "controller": {"generations": 30}, "iterate": {"rounds": 0}}
"""Sizes of a Doom world model: the paper's z (64) and LSTM (512); 2,000 random episodes (~650k
frames) and 10,000 M steps, the paper's recipe of random play only, which transferred better in
a shorter run than fewer episodes followed by iterate rounds (docs/RESULTS.md)."""

HOLD_STEPS = (1, 10)
"""The World Models paper holds each random Doom action for 1-10 steps."""


def _action_labels(scenario: str, buttons: list[vizdoom.Button]) -> tuple[str, ...]:
    """Each action's name: the buttons it presses ("NOOP" for none), MOVE_ dropped ("LEFT")."""
    combos = ACTION_OVERRIDES.get(scenario) or ((),) + tuple((b,) for b in buttons)
    return tuple("".join(b.name.removeprefix("MOVE_") for b in combo) or "NOOP" for combo in combos)


def info(scenario: str) -> GameInfo:
    """GameInfo for a cfg stem, read from the cfg without starting the game."""
    game = _load_config(scenario)
    labels = _action_labels(scenario, game.get_available_buttons())
    take_cover = scenario == "take_cover"  # left / stay / right, the paper's thresholded C
    return GameInfo(
        name=f"Doom/{camel_case(scenario)}",
        family="doom",
        action_space=gymnasium.spaces.Discrete(len(labels)),
        survival_reward=scenario in SURVIVAL_SCENARIOS,
        max_episode_steps=_episode_steps(game),
        frame_skip=1,
        action_labels=labels,
        opposite_actions=((0, 2),) if take_cover else (),
        controller_output="threshold" if take_cover else "argmax",
        hold_steps=HOLD_STEPS,
        keys="buttons" if take_cover else "",
        defaults=DEFAULTS,
    )
