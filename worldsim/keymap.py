"""Keyboard control for a person: which keys are held down (pygame key names such as "left",
"a", "space") give which action of a game's action space. Arrows or WASD move, space fires."""
from __future__ import annotations

import re
from typing import AbstractSet, Any, Callable, Sequence

import numpy as np

import envs
from envs import GameInfo

Keymap = Callable[[AbstractSet[str]], Any]
"""Held key names -> one action of the game's action space."""

KEY_BUTTONS = {
    "up": "UP", "w": "UP", "down": "DOWN", "s": "DOWN",
    "left": "LEFT", "a": "LEFT", "right": "RIGHT", "d": "RIGHT",
    "space": "FIRE",
}
"""Keys -> the buttons that ALE's action names are spelled in ("UPLEFTFIRE" presses three)."""

TAKE_COVER_ACTIONS = ("LEFT", "NOOP", "RIGHT")
"""Doom TakeCover's actions in envs/doom.py's order: left / stay / right."""

BUTTON_ALIASES = {"Atari/Pong": {"UP": "RIGHT", "DOWN": "LEFT"}}
"""Pong's paddle moves vertically, but ALE names its moves RIGHT (up) and LEFT (down)."""

GAS, BRAKE = 1.0, 0.8
"""CarRacing pedals; a full brake locks the wheels (gymnasium's own keyboard demo uses 0.8)."""


def held_buttons(keys: AbstractSet[str]) -> frozenset[str]:
    return frozenset(KEY_BUTTONS[k] for k in keys if k in KEY_BUTTONS)


class ButtonKeymap:
    """Discrete actions named by the buttons they press (ALE meanings such as "UPFIRE", "NOOP"):
    the action that presses the most of the held buttons and no other; the no-op when none does."""

    def __init__(self, action_names: Sequence[str], aliases: dict[str, str] | None = None):
        self.presses = [frozenset(re.findall("UP|DOWN|LEFT|RIGHT|FIRE", name)) for name in action_names]
        if frozenset() not in self.presses:
            raise ValueError(f"no no-op among the actions {list(action_names)}")
        self.aliases = aliases or {}

    def __call__(self, keys: AbstractSet[str]) -> int:
        held = {self.aliases.get(b, b) for b in held_buttons(keys)}
        fitting = [a for a, pressed in enumerate(self.presses) if pressed <= held]
        return max(fitting, key=lambda a: len(self.presses[a]))


def driving(keys: AbstractSet[str]) -> np.ndarray:
    """CarRacing's Box(3) action [steer, gas, brake]: left/right steer fully, up is gas, down brakes."""
    held = held_buttons(keys)
    steer = float("RIGHT" in held) - float("LEFT" in held)
    return np.array([steer, GAS * ("UP" in held), BRAKE * ("DOWN" in held)], dtype=np.float32)


def atari_action_names(game: GameInfo) -> list[str]:
    """ALE's names of the game's minimal action set; loads the ROM once to read them."""
    env = envs.make(game.name)
    names = env.unwrapped.get_action_meanings()
    env.close()
    return names


def keymap_for(game: GameInfo) -> Keymap:
    if game.family == "carracing":
        return driving
    if game.name == "Doom/TakeCover":
        return ButtonKeymap(TAKE_COVER_ACTIONS)
    if game.family == "atari":
        return ButtonKeymap(atari_action_names(game), BUTTON_ALIASES.get(game.name))
    raise ValueError(f"no keyboard mapping for {game.name}; --headless and --side-by-side play it without one")
