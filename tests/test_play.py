"""Playing inside the dream: keys map to each game's actions, the interactive loop reacts to key
presses without a display, and the headless and side-by-side videos come out as a user runs them."""
import itertools
import shutil

import ale_py
import imageio.v3 as iio
import numpy as np
import pygame
import pytest
import torch

import envs
from agents import pilot
from conftest import run_script
from worldsim.dream_env import DreamEnv
from worldsim.io import read_json, write_json
from worldsim.apps.dream_video import LABEL_HEIGHT, VIDEO_SCALE, play_dream, real_and_dream
from worldsim.apps.keymap import KEY_BUTTONS, ButtonKeymap, driving, keymap_for
from worldsim.models.vae import frames_to_tensor, tensor_to_frames
from worldsim.apps.play import Player, play_in_window
from worldsim.world_model import WorldModel


def every_key_combination():
    return [set(keys) for n in range(4) for keys in itertools.combinations(KEY_BUTTONS, n)]


def dream_of(run, **kwargs) -> DreamEnv:
    return DreamEnv(world=WorldModel.load(run.root, "cpu"), render_mode="rgb_array", **kwargs)


@torch.no_grad()
def reconstruction(world: WorldModel, frame: np.ndarray) -> np.ndarray:
    mu, _ = world.vae.encode(frames_to_tensor(frame[None]))
    return tensor_to_frames(world.vae.decode(mu))[0]


def test_take_cover_keys_are_left_stay_right():
    game = envs.info("Doom")
    keymap = keymap_for(game)
    assert [keymap(set()), keymap({"left"}), keymap({"a"}), keymap({"right"}), keymap({"d"})] == [1, 0, 0, 2, 2]
    assert all(game.action_space.contains(keymap(keys)) for keys in every_key_combination())


def test_car_racing_keys_steer_and_work_the_pedals():
    space = envs.info("CarRacing").action_space
    np.testing.assert_array_equal(keymap_for(envs.info("CarRacing"))({"left", "up"}), [-1.0, 1.0, 0.0])
    np.testing.assert_allclose(driving({"d", "s"}), [1.0, 0.0, 0.8])
    np.testing.assert_array_equal(driving(set()), [0.0, 0.0, 0.0])
    assert all(space.contains(driving(keys)) for keys in every_key_combination())


def test_pong_keys_fire_and_move_the_paddle_up_and_down():
    game = envs.info("Atari/Pong")
    names = game.action_labels
    keymap = keymap_for(game)
    pressed = {key: names[keymap(keys)] for key, keys in
               [("none", set()), ("space", {"space"}), ("up", {"up"}), ("down", {"s"}), ("up+fire", {"w", "space"})]}
    # ALE's Pong moves the paddle up with RIGHT and down with LEFT.
    assert pressed == {"none": "NOOP", "space": "FIRE", "up": "RIGHT", "down": "LEFT", "up+fire": "RIGHTFIRE"}
    assert all(game.action_space.contains(keymap(keys)) for keys in every_key_combination())


def test_simultaneous_keys_press_combined_atari_actions():
    names = [action.name for action in ale_py.Action]  # the full 18-action set
    keymap = ButtonKeymap(names)
    assert names[keymap({"up", "left", "space"})] == "UPLEFTFIRE"
    assert names[keymap({"down", "right"})] == "DOWNRIGHT"
    assert names[keymap({"x"})] == "NOOP"


def press(player: Player, key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))
    for event in pygame.event.get():
        player.handle_event(event)


def test_key_presses_drive_the_interactive_loop_without_a_display(smoke_runs):
    run = smoke_runs["Doom"]
    env = dream_of(run, temperature=1.15)
    player = Player(env, keymap_for(env.world.game), pilot.controller_in_dream(run.controller_checkpoint, env.world))
    pygame.display.init()
    try:
        press(player, pygame.K_RIGHT)
        assert player.action() == 2 and player.who == "human"
        player.step()
        player.step()
        assert player.steps == 2 and player.episode == 1
        press(player, pygame.K_c)
        assert player.who == "controller"
        player.step()
        press(player, pygame.K_PLUS)
        assert env.temperature == pytest.approx(1.20)
        press(player, pygame.K_r)
        assert (player.steps, player.score, player.episode) == (0, 0.0, 2)
        press(player, pygame.K_c)
        assert player.who == "human"
        press(player, pygame.K_q)
        assert not player.running
    finally:
        pygame.quit()


def test_window_loop_draws_until_q_is_pressed(smoke_runs):
    env = dream_of(smoke_runs["Doom"])
    player = Player(env, keymap_for(env.world.game), controller=None)
    pygame.display.init()
    pygame.time.set_timer(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q), 300, loops=1)
    play_in_window(player, scale=2, fps=60)
    assert not player.running and player.steps > 0


def test_game_over_waits_for_restart_and_without_controller_the_keyboard_keeps_control(smoke_runs, tmp_path):
    run = smoke_runs["Doom"]
    env = dream_of(run, max_episode_steps=3)
    assert pilot.controller_in_dream(tmp_path / "controller.pt", env.world) is None
    player = Player(env, keymap_for(env.world.game), controller=None)
    for _ in range(5):
        player.step()
    assert player.over and player.steps == 3
    assert "GAME OVER" in player.status_lines()[-1][0]
    player.toggle_control()
    assert player.who == "human" and "no trained controller" in player.notice
    player.reset()
    assert not player.over and player.steps == 0


def test_exploration_policy_plays_a_continuous_game_in_the_dream(smoke_runs):
    env = dream_of(smoke_runs["CarRacing"], max_episode_steps=4)
    played = play_dream(env, pilot.exploration(env.world, seed=0, dream=env.dream), steps=10)
    assert played.frames.shape == (10, 64, 64, 3) and played.frames.dtype == np.uint8
    assert len(played.scores) >= 2  # episodes of at most 4 steps (M's done head may end one sooner): two or more ended


def test_side_by_side_starts_the_dream_from_vs_reconstruction_of_the_real_first_frame(smoke_runs):
    run = smoke_runs["Doom"]
    env = dream_of(run)
    player = pilot.controller_in_real_game(run.controller_checkpoint, env.world)
    pair = real_and_dream(env, player, steps=5, seed=0)
    np.testing.assert_array_equal(pair.dream[0], reconstruction(env.world, pair.real[0]))
    assert pair.real.shape == pair.dream.shape == (6, 64, 64, 3)


def test_headless_play_records_one_frame_per_step(smoke_runs, tmp_path):
    video = tmp_path / "play.mp4"
    proc = run_script("play.py", "--run-dir", str(smoke_runs["Doom"].root), "--headless", "--steps", "12",
                      "--record", str(video), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "controller plays 12 steps" in proc.stdout and "episode 1" in proc.stdout
    assert iio.imread(video).shape == (12, 64 * VIDEO_SCALE, 64 * VIDEO_SCALE, 3)


def test_play_dreams_at_the_runs_temperature_unless_told_otherwise(smoke_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_runs["Doom"].root, run)
    cfg = read_json(run / "config.json")
    cfg["controller"]["temperature"] = 0.9
    write_json(run / "config.json", cfg)
    proc = run_script("play.py", "--run-dir", str(run), "--headless", "--steps", "3", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "at tau 0.90" in proc.stdout
    proc = run_script("play.py", "--run-dir", str(run), "--headless", "--steps", "3", "--temperature", "1.3")
    assert proc.returncode == 0 and "at tau 1.30" in proc.stdout


def test_side_by_side_video_shows_real_dream_and_difference(smoke_runs, tmp_path):
    run = smoke_runs["Doom"]
    video = tmp_path / "side.mp4"
    proc = run_script("play.py", "--run-dir", str(run.root), "--side-by-side", str(video), "--steps", "8",
                      "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mean absolute pixel error per frame" in proc.stdout
    frames = iio.imread(video)
    panel = 64 * VIDEO_SCALE
    assert frames.shape == (9, LABEL_HEIGHT + panel, 3 * panel, 3)
    # The video is lossy, so compare the first dream panel, shrunk back to 64x64, with V's
    # reconstruction of the real first frame, against how far a random frame is from it.
    real = envs.make("Doom")
    first, _ = real.reset(seed=0)
    real.close()
    expected = reconstruction(WorldModel.load(run.root, "cpu"), first).astype(float)
    dream = frames[0, LABEL_HEIGHT:, panel : 2 * panel].reshape(64, VIDEO_SCALE, 64, VIDEO_SCALE, 3).mean(axis=(1, 3))
    noise = np.random.default_rng(0).integers(0, 256, expected.shape)
    assert np.abs(dream - expected).mean() < 0.1 * np.abs(noise - expected).mean()


def test_bad_run_directories_give_one_line_errors(smoke_runs, tmp_path):
    proc = run_script("play.py", "--run-dir", str(tmp_path / "nothing"), "--headless")
    assert proc.returncode == 2 and "not a worldsim run directory" in proc.stderr
    (tmp_path / "no_models").mkdir()
    (tmp_path / "no_models" / "config.json").write_bytes(smoke_runs["Doom"].config_path.read_bytes())
    proc = run_script("play.py", "--run-dir", str(tmp_path / "no_models"), "--headless")
    assert proc.returncode == 2 and "has no vae.pt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
