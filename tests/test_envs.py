"""Real-game adapters: every family gives 64x64x3 uint8 frames, passes gymnasium's env
checker, and names resolve (or fail) the way users type them."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import warnings

import cv2
import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from worldsim.data.frames import object_centres, parse_object

FAMILY_EXAMPLES = ["CarRacing", "Doom", "Atari/Pong"]


@pytest.mark.parametrize("name", FAMILY_EXAMPLES)
def test_observations_are_64x64_rgb_frames_and_actions_are_accepted(name):
    env = envs.make(name)
    env.action_space.seed(0)
    try:
        obs, _ = env.reset(seed=0)
        for _ in range(5):
            assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
            assert env.observation_space.contains(obs)
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert not (terminated or truncated)
        assert obs.std() > 0, "frame is blank"
    finally:
        env.close()


@pytest.mark.parametrize("name", FAMILY_EXAMPLES)
def test_gymnasium_env_checker_passes(name):
    env = envs.make(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Checking the wrapped env is the point: our wrappers are what users get.
        warnings.filterwarnings("ignore", message=".*different from the unwrapped")
        check_env(env)
    env.close()


@pytest.mark.parametrize("name", FAMILY_EXAMPLES)
def test_info_describes_the_env_make_builds(name):
    info = envs.info(name)
    env = envs.make(name)
    assert info.name == envs.canonical_name(name)
    assert info.action_space == env.action_space
    # ALE truncates by itself after max_num_frames_per_episode emulator frames.
    frame_cap = env.spec.kwargs.get("max_num_frames_per_episode", 0)
    assert info.max_episode_steps == (env.spec.max_episode_steps or frame_cap // info.frame_skip)
    env.close()


def test_names_resolve_case_insensitively_to_one_spelling():
    assert envs.canonical_name("CarRacing") == envs.canonical_name("carracing") == "CarRacing"
    assert envs.canonical_name("Doom") == envs.canonical_name("doom/take_cover") == "Doom/TakeCover"
    assert envs.canonical_name("Doom/defend_the_center") == "Doom/DefendTheCenter"
    assert envs.canonical_name("Atari/pong") == "Atari/Pong"
    assert envs.canonical_name("atari/space_invaders") == "Atari/SpaceInvaders"


@pytest.mark.parametrize("name", ["Foo", "Doom/NoSuchMap", "CarRacing/Fast", ""])
def test_unknown_name_raises_one_line_error_listing_known_names(name):
    with pytest.raises(envs.UnknownEnvError) as raised:
        envs.make(name)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in message and repr(name) in message
    for known in ("CarRacing", "Doom/TakeCover", "Doom/Basic", "Atari/<Game>"):
        assert known in message


def test_unknown_atari_game_lists_the_ale_games():
    with pytest.raises(envs.UnknownEnvError, match=r"Atari/Pong.*Atari/SpaceInvaders"):
        envs.info("Atari/NoSuchGame")


def test_known_names_cover_the_families():
    names = envs.known_names()
    assert names[:2] == ["CarRacing", "Doom"]
    assert "Doom/TakeCover" in names and "Doom/HealthGathering" in names
    assert any(name.startswith("Atari/") for name in names)


def test_every_listed_doom_scenario_starts_and_steps():
    for name in envs.known_names():
        if name.startswith("Doom/"):
            env = envs.make(name)
            obs, _ = env.reset(seed=0)
            obs, *_ = env.step(0)
            assert obs.shape == (64, 64, 3) and envs.info(name).action_space == env.action_space
            env.close()


def test_take_cover_is_left_stay_right_with_survival_reward():
    info = envs.info("Doom")
    assert info.name == "Doom/TakeCover" and info.family == "doom"
    assert info.action_space == gymnasium.spaces.Discrete(3)
    assert info.survival_reward and info.max_episode_steps == 2100 and info.frame_skip == 1
    for other in ("Doom/Basic", "CarRacing", "Atari/Pong"):
        assert not envs.info(other).survival_reward


def test_take_cover_pays_one_per_tic_until_death_terminates_the_episode():
    env = envs.make("Doom")
    env.reset(seed=0)
    rewards = []
    while True:
        _, reward, terminated, truncated, _ = env.step(1)  # stand still: fireballs will hit
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    assert terminated and not truncated
    assert set(rewards) == {1.0} and len(rewards) < 2100


def _doom_frames(env: gymnasium.Env, seed: int) -> np.ndarray:
    # TakeCover's first ~60 tics look the same under any seed; randomness shows once
    # the monsters start firing.
    frames = [env.reset(seed=seed)[0]]
    for step in range(100):
        obs, _, terminated, truncated, _ = env.step(step % 3)
        frames.append(obs)
        if terminated or truncated:
            break
    return np.stack(frames)


def test_doom_same_seed_replays_the_same_frames():
    env = envs.make("Doom")
    first = _doom_frames(env, seed=7)
    assert np.array_equal(first, _doom_frames(env, seed=7))
    assert not np.array_equal(first, _doom_frames(env, seed=8))
    env.close()


def test_doom_runs_in_async_vector_env_worker_processes():
    vector_env = gymnasium.vector.AsyncVectorEnv([lambda: envs.make("Doom")] * 2)
    try:
        obs, _ = vector_env.reset(seed=0)
        for _ in range(15):  # a move takes a few tics to show on screen
            obs, rewards, *_ = vector_env.step(np.array([0, 2]))
        assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
        assert rewards.tolist() == [1.0, 1.0]
        assert not np.array_equal(obs[0], obs[1]), "left and right moves should differ"
    finally:
        vector_env.close()


def test_the_engine_finds_its_folder_made_before_a_doom_game_starts(tmp_path, monkeypatch):
    """Two Doom games starting at once in a fresh working directory can both find the engine's
    folder missing, and the one whose make fails dies (it happened in CI); the adapter makes the
    folder before it starts the engine, so the engine has nothing to make."""
    monkeypatch.chdir(tmp_path)
    env = envs.make("Doom")
    game, seen = env.unwrapped._game, []

    class Watched:
        def __getattr__(self, name):
            return getattr(game, name)

        def init(self):
            seen.append(os.path.isdir(tmp_path / "_vizdoom"))
            return game.init()

    env.unwrapped._game = Watched()
    try:
        env.reset(seed=0)
    finally:
        env.close()
    assert seen == [True]


def test_car_racing_frame_is_the_raw_frame_without_status_bar_resized():
    ours = envs.make("CarRacing")
    raw = gymnasium.make("CarRacing-v3")
    obs, _ = ours.reset(seed=3)
    raw_obs, _ = raw.reset(seed=3)
    for step in range(60):
        action = np.array([np.sin(step / 10), 0.5, 0.0], dtype=np.float32)
        obs, *_ = ours.step(action)
        raw_obs, *_ = raw.step(action)
    assert (raw_obs[84:] == 0).mean() > 0.5, "rows 84:96 of the raw frame are the black status bar"
    expected = cv2.resize(raw_obs[:84], (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(obs, expected)
    ours.close()
    raw.close()


def test_atari_info_uses_v5_defaults():
    info = envs.info("Atari/Pong")
    assert info.family == "atari" and info.frame_skip == 4 and info.max_episode_steps == 27000
    assert info.action_space == gymnasium.spaces.Discrete(6)
    assert info.sticky_actions == 0.25
    # one game's own default (Breakout's short random episodes) over the family's, the rest kept
    breakout = envs.info("Atari/Breakout")
    assert breakout.defaults["collect"]["episodes"] > info.defaults["collect"]["episodes"]
    assert breakout.defaults["vae"] == info.defaults["vae"] and breakout.tuning["vae"] == info.tuning["vae"]
    # Pong ends at 21 points, so its M counts them; Breakout ends at the last ball, not a score
    assert info.tuning["mdnrnn"]["score_scale"] == 21 and "mdnrnn" not in breakout.tuning


def test_atari_records_without_sticky_actions_and_scores_agents_with_them():
    """Recorded world-model data must hold the actions that acted; agents are scored under the
    standard protocol (v5's repeat probability 0.25)."""
    for evaluation, expected in ((False, 0.0), (True, 0.25)):
        env = envs.make("Atari/Pong", evaluation=evaluation)
        assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(expected)
        env.close()


@pytest.mark.parametrize("name", ["CarRacing", "Doom", "Doom/DefendTheCenter", "Atari/Pong", "Atari/Breakout"])
def test_one_description_per_game_is_complete_and_consistent(name):
    """Everything the rest of worldsim needs about a game comes from its GameInfo, and the parts
    agree: one label per discrete action, opposite actions labelled LEFT/RIGHT, a policy and a
    key mapping for it where it names one, size defaults that are real config fields."""
    import dataclasses

    from agents.exploration import make_exploration_policy
    from worldsim.apps.keymap import keymap_for
    from worldsim.config import Config

    game = envs.info(name)
    assert game.discrete == isinstance(game.action_space, gymnasium.spaces.Discrete)
    if game.discrete:
        assert len(game.action_labels) == game.num_actions == game.action_space.n
        for left, right in game.opposite_actions:
            assert "LEFT" in game.action_labels[left] and "RIGHT" in game.action_labels[right]
    for policy in game.exploration_policies:
        actions = make_exploration_policy(game, 2, 0, policy).act(np.zeros((2, 64, 64, 3), np.uint8))
        assert all(game.action_space.contains(a) for a in actions)
    if game.keys:
        assert game.action_space.contains(keymap_for(game)({"left"}))
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    config = Config()
    for section, values in game.defaults.items():
        assert section in sections and all(hasattr(getattr(config, section), k) for k in values)


def test_importing_a_controller_or_the_config_loads_no_game():
    """The games' libraries (ViZDoom, ALE, Box2D, OpenCV) load only when a game is named."""
    import subprocess
    import sys

    code = ("import sys, agents.controller, agents.exploration, worldsim.config, worldsim.run, envs; "
            "print(sorted(m for m in ('vizdoom', 'ale_py', 'Box2D', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_breakout_is_served_where_an_agent_is_scored():
    """An agent that never presses FIRE still sees the ball come into play in the scored game
    (ServeWithFire), after the start and after each lost life, and the episode ends; the recorded
    game is left as it is."""
    from envs.atari import ServeWithFire

    def wrappers(env):
        while isinstance(env, gymnasium.Wrapper):
            yield env
            env = env.env

    scored = envs.make("Atari/Breakout", evaluation=True)
    assert any(isinstance(w, ServeWithFire) for w in wrappers(scored))
    obs, info = scored.reset(seed=0)
    lives, steps, terminated, truncated = info["lives"], 0, False, False
    while not (terminated or truncated) and steps < 3000:
        obs, _, terminated, truncated, info = scored.step(0)  # NOOP, forever
        steps += 1
    scored.close()
    assert terminated and info["lives"] == 0 and steps < 3000 and lives == 5
    recorded = envs.make("Atari/Breakout")
    assert not any(isinstance(w, ServeWithFire) for w in wrappers(recorded))
    recorded.close()


def test_recorded_breakout_ends_at_the_first_lost_life_and_a_scored_one_plays_all_five():
    """A world model of Breakout learns one life (envs.atari.ONE_LIFE): the recorded episode ends
    at the step that loses the first ball; an agent is scored over the whole game."""
    def play(evaluation: bool) -> tuple[int, int, float]:
        env = envs.make("Atari/Breakout", evaluation=evaluation)
        _, info = env.reset(seed=0)
        steps, terminated, truncated, total = 0, False, False, 0.0
        while not (terminated or truncated):
            _, reward, terminated, truncated, info = env.step(1 if steps % 20 == 0 else 3)  # serve, go left
            steps, total = steps + 1, total + reward
        env.close()
        return info["lives"], steps, total

    assert envs.info("Atari/Breakout").one_life and not envs.info("Atari/Pong").one_life
    recorded_lives, recorded_steps, _ = play(evaluation=False)
    scored_lives, scored_steps, _ = play(evaluation=True)
    assert recorded_lives == 4 and scored_lives == 0 and scored_steps > 3 * recorded_steps


def _on_frame(screen_pixel: float, screen_size: int) -> float:
    """Where a screen pixel's centre (row or column index on a `screen_size`-pixel axis) falls on the
    64-pixel axis of the resized frame, in the same index units."""
    return (screen_pixel + 0.5) * 64 / screen_size - 0.5


def test_breakouts_ball_shows_whole_in_the_64x64_frame_where_it_is_on_the_screen():
    """Breakout's ball, 2 x 4 pixels of the 210 x 160 screen, would be under one pixel of the
    64 x 64 frame at half its colour; the adapter grows the sprites before the resize
    (envs.atari.GROWN), so every frame of the ball in flight shows it at its own colour on at
    least two pixels, centred within a pixel of where the screen has it."""
    ball_colour = np.array([200, 72, 72])
    env = envs.make("Atari/Breakout")
    env.reset(seed=3)
    shown = 0
    for step in range(60):
        frame, _, terminated, truncated, _ = env.step(1 if step < 2 else 0)  # FIRE serves, then NOOP
        screen = env.unwrapped.ale.getScreenRGB()
        rows, cols = np.nonzero((screen[105:180, 8:152] == ball_colour).all(-1))  # between bricks and paddle
        if len(rows) == 0:
            continue
        if 0 < rows.min() and rows.max() < 74:  # wholly inside the box: 4 screen rows by 2 columns
            assert (np.ptp(rows) + 1, np.ptp(cols) + 1) == (4, 2)
        whole = (frame[30:56, 3:61] == ball_colour).all(-1)
        assert whole.sum() >= 2, f"step {step}: the ball shows on {whole.sum()} pixels at its colour"
        centre = np.argwhere(whole).mean(0) + (30, 3)
        truth = (_on_frame(rows.mean() + 105, 210), _on_frame(cols.mean() + 8, 160))
        assert np.abs(centre - truth).max() < 1.0, (step, centre, truth)
        shown += 1
        if terminated or truncated:
            break
    env.close()
    assert shown >= 10


def test_pongs_ball_grows_over_the_field_alone_and_the_paddle_keeps_its_colour():
    """Pong's ball (2 x 4 pixels of the screen, white on the orange field) is grown before the resize
    over the field's pixels only (envs.atari.GROWN_OVER): in flight between the paddles it shows at
    its own colour on at least two pixels of the 64 x 64 frame, centred within a pixel of where the
    screen has it; the green paddle keeps its colour, so the game's paddle spec still finds it where
    the screen has it; the white walls stay where they are."""
    game = envs.info("Atari/Pong")
    assert game.frames.startswith("grown 7x5 of 236,236,236 over 144,72,17")
    _, colour, box = parse_object(game.ball_and_paddle[1])
    env = envs.make("Atari/Pong")
    env.reset(seed=3)
    moves = [game.action_labels.index(a) for a in ("RIGHT", "LEFT", "NOOP")]
    shown, paddle_errors = 0, []
    for step in range(300):
        frame, _, terminated, truncated, _ = env.step(moves[(step // 15) % 3])
        screen = env.unwrapped.ale.getScreenRGB()
        field = screen[34:194]
        paddle_rows = np.nonzero((field[:, 140:144] == (92, 186, 92)).all(-1).any(-1))[0]
        if len(paddle_rows) >= 12:  # the paddle, 16 rows tall, mostly out from behind a wall
            centre, seen = object_centres(frame[None], colour, box)
            assert seen[0]
            paddle_errors.append(abs(centre[0, 0] - _on_frame(paddle_rows.mean() + 34, 210)))
        np.testing.assert_array_equal(frame[:10], cv2.resize(screen, (64, 64), interpolation=cv2.INTER_AREA)[:10])
        rows, cols = np.nonzero((field == 236).all(-1))
        if len(rows) != 8 or cols.min() < 24 or cols.max() > 135 or rows.min() < 4 or rows.max() > 155:
            continue  # not wholly in open field: hidden, at a wall or beside a paddle
        whole = (frame[11:57, 9:54] == 236).all(-1)
        assert whole.sum() >= 2, f"step {step}: the ball shows on {whole.sum()} pixels at its colour"
        centre = np.argwhere(whole).mean(0) + (11, 9)
        truth = (_on_frame(rows.mean() + 34, 210), _on_frame(cols.mean(), 160))
        assert np.abs(centre - truth).max() < 1.0, (step, centre, truth)
        shown += 1
        if terminated or truncated:
            break
    env.close()
    assert shown >= 10 and len(paddle_errors) >= 100 and max(paddle_errors) < 1.0, (shown, max(paddle_errors))


def test_breakouts_paddle_is_found_where_the_screen_has_it_even_against_a_wall():
    """The game's paddle spec (GameInfo.ball_and_paddle, read by the `follow` exploration, the
    trackers and world_model_compare) finds the paddle's centre within a pixel of where the screen
    has it, at either wall too: the red marks at the foot of the right wall share the paddle's
    colour and rows, so a box over the whole width would pull the centre toward them."""
    game = envs.info("Atari/Breakout")
    _, colour, box = parse_object(game.ball_and_paddle[1])
    labels = game.action_labels
    env = envs.make("Atari/Breakout")
    env.reset(seed=3)
    errors = []
    for action in ["LEFT"] * 20 + ["RIGHT"] * 40:
        frame, _, terminated, truncated, _ = env.step(labels.index(action))
        screen = env.unwrapped.ale.getScreenRGB()
        _, cols = np.nonzero((screen[186:196, 8:152] == (200, 72, 72)).all(-1))  # inside the walls
        found, seen = object_centres(frame[None], colour, box)
        assert len(cols) and seen[0]
        errors.append(abs(found[0, 1] - _on_frame(cols.mean() + 8, 160)))
        if terminated or truncated:
            break
    env.close()
    assert max(errors) < 1.0, f"paddle centre off by up to {max(errors):.1f} px"
