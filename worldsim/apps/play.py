"""A person playing inside the dream in a pygame window, able to hand control to the trained
controller and back and to change the dream's temperature on the fly. `Player` holds the game
state and reacts to pygame events; `play_in_window` draws it and runs the clock."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame prints a banner on import otherwise
import pygame  # noqa: E402

from agents.pilot import Pilot  # noqa: E402
from worldsim.dream_env import DreamEnv  # noqa: E402
from worldsim.apps.keymap import Keymap  # noqa: E402
from worldsim.run import RunDir  # noqa: E402
from worldsim.world_model import WorldModel  # noqa: E402

QUIT_KEYS = frozenset({"escape", "q"})
WARMER_KEYS = frozenset({"+", "=", "]", "[+]"})  # "=" is the unshifted "+" key
COOLER_KEYS = frozenset({"-", "[", "[-]"})
TEMPERATURE_STEP = 0.05
BACKGROUND, TEXT, ALERT = (0, 0, 0), (230, 230, 230), (255, 80, 80)


class Player:
    """One dream episode after another, driven by the held keys or by the controller. The window's
    clock and the person's keys set the pace, one DreamEnv step per frame, so this is the one
    player that steps a dream itself rather than through envs.rollout.rollout."""

    def __init__(self, env: DreamEnv, keymap: Keymap, controller: Pilot | None, seed: int = 0):
        self.env, self.keymap, self.controller = env, keymap, controller
        self.held: set[str] = set()
        self.controller_driving = False
        self.running = True
        self.notice = ""
        self.episode = 0
        self.obs, _ = env.reset(seed=seed)
        self._new_episode()

    def reset(self) -> None:
        self.obs, _ = self.env.reset()
        self._new_episode()

    def _new_episode(self) -> None:
        self.score, self.steps, self.over = 0.0, 0, False
        self.episode += 1

    def handle_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            self._press(pygame.key.name(event.key))
        elif event.type == pygame.KEYUP:
            self.held.discard(pygame.key.name(event.key))

    def _press(self, key: str) -> None:
        if key in QUIT_KEYS:
            self.running = False
        elif key == "c":
            self.toggle_control()
        elif key in WARMER_KEYS or key in COOLER_KEYS:
            step = TEMPERATURE_STEP if key in WARMER_KEYS else -TEMPERATURE_STEP
            # Rounded so that many 0.05 steps add up exactly; tau 0 follows M's most likely mode.
            self.env.temperature = round(max(0.0, self.env.temperature + step), 2)
        elif key == "r":
            self.reset()
        else:
            self.held.add(key)

    def toggle_control(self) -> None:
        if self.controller is None:
            self.notice = "no trained controller for this dream; keyboard keeps control"
            print(self.notice)
            return
        self.controller_driving = not self.controller_driving

    @property
    def who(self) -> str:
        return self.controller.name if self.controller_driving else "human"

    def action(self):
        """The action for this step, from the controller or from the keys held now."""
        return self.controller.act_one(self.obs) if self.controller_driving else self.keymap(frozenset(self.held))

    def step(self) -> None:
        """One dream step, unless the episode is over (it waits for R)."""
        if self.over:
            return
        self.obs, reward, terminated, truncated, _ = self.env.step(self.action())
        self.score += reward
        self.steps += 1
        self.over = terminated or truncated

    def status_lines(self) -> list[tuple[str, tuple[int, int, int]]]:
        lines = [(f"score {self.score:.1f}   step {self.steps}   episode {self.episode}   "
                  f"τ {self.env.temperature:.2f}   {self.who}", TEXT)]
        if self.over:
            lines.append(("GAME OVER — R to restart", ALERT))
        else:
            lines.append((self.notice or "C controller   +/- τ   R reset   Q quit", TEXT))
        return lines


def play_in_window(player: Player, scale: int = 8, fps: int = 30) -> None:
    """Run the window until the player quits: V's frame upscaled `scale` times (nearest neighbour)
    with a status strip below it."""
    pygame.display.init()
    pygame.font.init()
    font = pygame.font.Font(None, max(16, 3 * scale))
    side = 64 * scale
    line = font.get_linesize()
    screen = pygame.display.set_mode((side, side + 2 * line + 8))
    pygame.display.set_caption(f"worldsim: the dream of {player.env.world.env}")
    clock = pygame.time.Clock()
    try:
        while player.running:
            for event in pygame.event.get():
                player.handle_event(event)
            if not player.running:
                break
            player.step()
            _draw(screen, font, player, side, line)
            clock.tick(fps)
    finally:
        pygame.quit()


def _draw(screen: pygame.Surface, font: pygame.font.Font, player: Player, side: int, line: int) -> None:
    frame: np.ndarray = player.env.render()  # (64, 64, 3) uint8
    picture = pygame.surfarray.make_surface(frame.swapaxes(0, 1))  # surfarray is (x, y), frames are (y, x)
    screen.fill(BACKGROUND)
    screen.blit(pygame.transform.scale(picture, (side, side)), (0, 0))
    for i, (text, colour) in enumerate(player.status_lines()):
        screen.blit(font.render(text, True, colour), (4, side + 4 + i * line))
    pygame.display.flip()


def controller_checkpoint(run: RunDir, world: WorldModel) -> Path:
    """The controller trained in world's dream; in a GameGAN dream without one, V+M's (same input)."""
    if world.family == "vm":
        return run.controller_checkpoint
    own = run.controller_files("gamegan", world.gamegan_name)[1]
    if own.is_file() or not run.controller_checkpoint.is_file():
        return own
    print(f"no controller trained in the {world.label} ({own}); using {run.controller_checkpoint}, "
          "trained in V+M's dream on the same [z, h]")
    return run.controller_checkpoint
