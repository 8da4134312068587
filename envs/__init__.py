"""Adapters for the real games a world model learns from: CarRacing, ViZDoom scenarios
and ALE (Atari) games, each a gymnasium Env with 64x64x3 uint8 RGB observations.

    env = envs.make("Doom")          # ViZDoom TakeCover
    info = envs.info("Atari/Pong")   # action space, episode cap, ... without playing
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from envs.game_info import GameInfo

if TYPE_CHECKING:
    import gymnasium

# The adapters (ViZDoom, ALE, Box2D, OpenCV) are imported only when a game is named, so
# importing a GameInfo user (a controller, the config) loads no emulator.

__all__ = ["GameInfo", "UnknownEnvError", "canonical_name", "info", "known_names", "make"]

ATARI_HINT = "Atari/<Game> (any ALE game, e.g. Atari/Pong)"


class UnknownEnvError(ValueError):
    """A name that `envs.make` cannot build; the message lists the names it can."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown env {name!r}; known: {', '.join(known)}")


def known_names() -> list[str]:
    """Names `make` accepts (Atari stands for every ALE game by one pattern)."""
    from envs import doom

    return ["CarRacing", "Doom", *(f"Doom/{name}" for name in doom.NAMES), ATARI_HINT]


def canonical_name(name: str) -> str:
    """The one spelling of a game: "Doom" -> "Doom/TakeCover", "atari/pong" -> "Atari/Pong".

    Family and game are matched case-insensitively, and underscores in the game are
    ignored ("Doom/take_cover" is the TakeCover cfg's own name).
    """
    from envs import atari, doom

    family, _, game = name.partition("/")
    family = family.lower()
    if family == "carracing" and not game:
        return "CarRacing"
    if family == "doom" and (scenario := doom.scenario_from_name(game)):
        return f"Doom/{doom.camel_case(scenario)}"
    if family == "atari":
        if ale_game := atari.game_from_name(game):
            return f"Atari/{ale_game}"
        raise UnknownEnvError(name, [f"Atari/{g}" for g in atari.names()])
    raise UnknownEnvError(name, known_names())


def make(name: str, render_mode: str | None = None, evaluation: bool = False) -> gymnasium.Env:
    """The real game `name` (see known_names) as a gymnasium Env. evaluation: set up as agents
    are scored rather than as play is recorded for a world model (Atari: sticky actions on)."""
    from envs import atari, car_racing, doom

    family, _, game = canonical_name(name).partition("/")
    if family == "CarRacing":
        return car_racing.make(render_mode)
    if family == "Doom":
        return doom.make(doom.scenario_from_name(game), render_mode)
    return atari.make(game, render_mode, evaluation)


def info(name: str) -> GameInfo:
    """Everything known about game `name` (envs.game_info.GameInfo), without starting a game
    process; read once per process."""
    return _info(canonical_name(name))


@functools.cache
def _info(name: str) -> GameInfo:
    from envs import atari, car_racing, doom

    family, _, game = name.partition("/")
    if family == "CarRacing":
        return car_racing.info()
    if family == "Doom":
        return doom.info(doom.scenario_from_name(game))
    return atari.info(game)
