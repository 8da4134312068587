"""Keyboard control for a person: which keys are held down (pygame key names such as "left",
"a", "space") give which action of a game's action space. Arrows or WASD move, space fires."""
from __future__ import annotations

import re
from typing import AbstractSet, Any, Callable, Sequence

import numpy as np

from envs import GameInfo

Keymap = Callable[[AbstractSet[str]], Any]
"""Held key names -> one action of the game's action space."""

KEY_BUTTONS = {
    "up": "UP", "w": "UP", "down": "DOWN", "s": "DOWN",
    "left": "LEFT", "a": "LEFT", "right": "RIGHT", "d": "RIGHT",
    "space": "FIRE",
}
"""Keys -> the buttons that ALE's action names are spelled in ("UPLEFTFIRE" presses three)."""

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


def keymap_for(game: GameInfo) -> Keymap:
    """The keys of game.keys: "driving" for a steering wheel and pedals, "buttons" for actions
    named by the buttons they press (game.action_labels, with game.key_aliases)."""
    if game.keys == "driving":
        return driving
    if game.keys == "buttons":
        return ButtonKeymap(game.action_labels, game.key_aliases)
    raise ValueError(f"no keyboard mapping for {game.name}; --headless and --side-by-side play it without one")
