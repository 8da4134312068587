"""Data-collection policies: valid batched actions for every family, held discrete
actions, smooth CarRacing drift, a road follower that earns tiles on a real track, a ball
follower that meets Breakout's ball more often than random play and moves Pong's paddle up and down
to the ball, and reproducibility from the seed."""

import dataclasses
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium
import numpy as np
import pytest

import envs
from agents.exploration import BallFollowingPolicy, SmoothDrivingPolicy, make_exploration_policy, road_column

FAMILY_EXAMPLES = ["CarRacing", "Doom", "Atari/Pong"]


def _rollout(policy, steps: int, reset_every: int = 0) -> np.ndarray:
    """(steps, num_envs, ...) actions given all-grass frames (no road in view); env 0 starts a
    new episode every `reset_every` steps."""
    grass = np.zeros((policy.num_envs, 64, 64, 3), dtype=np.uint8)
    grass[..., 1] = 200
    actions = []
    for step in range(steps):
        actions.append(policy.act(grass))
        if reset_every and step % reset_every == reset_every - 1:
            mask = np.zeros(len(actions[-1]), dtype=bool)
            mask[0] = True
            policy.reset(mask)
    return np.stack(actions)


def _run_lengths(sequence: np.ndarray) -> list[int]:
    """Lengths of the runs of equal consecutive values, the last (cut-off) run excluded."""
    change_points = np.flatnonzero(np.diff(sequence)) + 1
    return np.diff(np.concatenate([[0], change_points])).tolist()


@pytest.mark.parametrize("name", FAMILY_EXAMPLES)
def test_actions_are_valid_batches_for_the_action_space(name):
    info = envs.info(name)
    actions = _rollout(make_exploration_policy(info, num_envs=4, seed=0), steps=300, reset_every=50)
    if isinstance(info.action_space, gymnasium.spaces.Discrete):
        assert actions.shape == (300, 4) and actions.dtype == np.int64
        assert set(np.unique(actions)) == set(range(info.action_space.n))
    else:
        assert actions.shape == (300, 4, 3) and actions.dtype == np.float32
    assert all(info.action_space.contains(a) for a in actions.reshape(-1, *info.action_space.shape))


@pytest.mark.parametrize("name", FAMILY_EXAMPLES)
def test_same_seed_gives_same_actions(name):
    info = envs.info(name)
    first = _rollout(make_exploration_policy(info, num_envs=3, seed=5), steps=200, reset_every=30)
    again = _rollout(make_exploration_policy(info, num_envs=3, seed=5), steps=200, reset_every=30)
    other = _rollout(make_exploration_policy(info, num_envs=3, seed=6), steps=200, reset_every=30)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("name", "longest"), [("Doom", 10), ("Atari/Pong", 4)])
def test_discrete_actions_are_held_for_random_runs(name, longest):
    # With a huge action space a re-drawn action never equals the previous one, so runs
    # of equal actions are exactly the hold durations.
    info = dataclasses.replace(envs.info(name), action_space=gymnasium.spaces.Discrete(10**9))
    actions = _rollout(make_exploration_policy(info, num_envs=8, seed=0), steps=500)
    runs = [length for env in range(8) for length in _run_lengths(actions[:, env])]
    assert set(runs) == set(range(1, longest + 1))


def test_reset_redraws_the_held_action_at_once():
    info = dataclasses.replace(envs.info("Doom"), action_space=gymnasium.spaces.Discrete(10**9))
    policy = make_exploration_policy(info, num_envs=2, seed=0)
    frames = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    before = policy.act(frames)
    policy.reset(np.array([True, False]))
    after = policy.act(frames)
    assert after[0] != before[0]


def test_car_racing_drift_is_smooth_and_turns_both_ways():
    # the steering noise of the road follower, and its steering when no road is in view
    actions = _rollout(SmoothDrivingPolicy(envs.info("CarRacing").action_space, num_envs=8, seed=0), steps=1000)
    steer, gas, brake = actions[..., 0], actions[..., 1], actions[..., 2]
    assert np.abs(np.diff(steer, axis=0)).max() < 0.3
    assert np.abs(np.diff(steer, axis=0)).mean() < 0.1
    turns_both_ways = (steer < -0.3).any(axis=0) & (steer > 0.3).any(axis=0)  # (num_envs,)
    assert turns_both_ways.all()
    assert gas.mean() > 0.3 and (gas > 0.2).mean() > 0.8
    assert 0 < (brake > 0).mean() < 0.2


def test_road_column_finds_the_grey_road():
    frames = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    frames[..., 1] = 200  # grass
    frames[0, 40:48, 40:50] = 105  # road just ahead, right of the car
    frames[1, 30:34, 10:14] = 105  # road only further up, left
    centers = road_column(frames, slice(40, 48), slice(24, 64))
    np.testing.assert_allclose(centers[:2], [44.5, 11.5])
    assert np.isnan(centers[2])


def test_car_racing_policy_earns_tiles_and_leaves_the_road_at_times():
    def on_road(frame: np.ndarray) -> bool:
        red, green = frame[44:50, 29:35, 0].astype(int), frame[44:50, 29:35, 1].astype(int)
        grey = (np.abs(red - green) < 12) & (red > 80) & (red < 130)  # road; grass is green
        return grey.mean() > 0.5

    def drive(policy) -> tuple[float, list[bool]]:
        env = envs.make("CarRacing")
        frame, _ = env.reset(seed=0)
        total, seen_road = 0.0, []
        for _ in range(500):
            frame, reward, terminated, truncated, _ = env.step(policy.act(frame[None])[0])
            total += reward
            seen_road.append(on_road(frame))
            assert not (terminated or truncated)
        env.close()
        return total, seen_road[60:]

    info = envs.info("CarRacing")
    total, seen_road = drive(make_exploration_policy(info, num_envs=1, seed=0))
    drift_total, drift_road = drive(SmoothDrivingPolicy(info.action_space, num_envs=1, seed=0))
    assert total > 100 > drift_total  # 213 against -25 here: ~70 tiles at ~3.9 points, less 0.1 per step
    assert np.mean(seen_road) > np.mean(drift_road) and not all(seen_road)


def test_policies_are_chosen_by_name_with_a_clear_error():
    info = envs.info("CarRacing")
    assert isinstance(make_exploration_policy(info, 1, 0, "drift"), SmoothDrivingPolicy)
    assert make_exploration_policy(info, 1, 0).needs_frames  # the default: the road follower
    with pytest.raises(ValueError, match="unknown exploration policy 'road' for Doom/TakeCover; known: held"):
        make_exploration_policy(envs.info("Doom"), 1, 0, "road")


def test_ball_follower_steers_toward_the_ball_and_serves_when_none_shows(monkeypatch):
    monkeypatch.setattr(BallFollowingPolicy, "FOLLOW_SHARE", (1.0, 1.0))  # every stretch follows
    game = envs.info("Atari/Breakout")
    labels = game.action_labels
    policy = make_exploration_policy(game, 3, 0, "follow")
    frames = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    red = (200, 72, 72)
    frames[:, 57:59, 28:36] = red  # the paddle, centred on column 31.5
    frames[0, 40:42, 50:52] = red  # the ball to the right of it
    frames[1, 40:42, 10:12] = red  # to the left; frame 2 shows no ball
    assert [labels[a] for a in policy.act(frames)] == ["RIGHT", "LEFT", "FIRE"]


def test_ball_follower_errs_in_its_aim_by_the_episodes_spread(monkeypatch):
    monkeypatch.setattr(BallFollowingPolicy, "FOLLOW_SHARE", (1.0, 1.0))
    game = envs.info("Atari/Breakout")
    frames = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    frames[:, 57:59, 28:36] = (200, 72, 72)  # the paddle, centred on column 31.5
    frames[:, 40:42, 31:33] = (200, 72, 72)  # the ball straight above it, not moving

    def moves(name: str, spread: float) -> list[str]:
        monkeypatch.setattr(BallFollowingPolicy, "AIM_SPREAD", (spread, spread))
        policy = make_exploration_policy(game, 1, 0, name)
        return [game.action_labels[policy.act(frames)[0]] for _ in range(300)]

    assert set(moves("follow", 0.0)) == {"NOOP"}  # an exact follower stays under the ball
    assert set(moves("follow-exact", 6.0)) == {"NOOP"}  # whatever the class's spread
    erring = moves("follow", 6.0)  # aims up to 6 px either side, a new aim for each stretch
    assert {"LEFT", "RIGHT"} <= set(erring) and 0.4 < erring.count("RIGHT") / erring.count("LEFT") < 2.5


PONG_FIELD, PONG_PLAYER = (144, 72, 17), (92, 186, 92)


def _pong_frame(ball_row: int | None, paddle_rows: tuple[int, int] | None) -> np.ndarray:
    frame = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    frame[:] = PONG_FIELD
    frame[:, :10] = frame[:, 57:] = 236  # the walls
    frame[:, 0:5, 47:51] = PONG_PLAYER  # the player's score, in its paddle's green, above the field
    if paddle_rows is not None:
        frame[:, paddle_rows[0] : paddle_rows[1], 55:57] = PONG_PLAYER
    if ball_row is not None:
        frame[:, ball_row, 40] = (190, 150, 120)  # the ball, blended into the field by the resize
    return frame


def test_pong_follower_moves_its_paddle_along_the_rows_with_pongs_buttons(monkeypatch):
    monkeypatch.setattr(BallFollowingPolicy, "AIM_SPREAD", (0.0, 0.0))
    game = dataclasses.replace(envs.info("Atari/Pong"), paddle_follow={"follow_share": (1.0, 1.0), "dead_zone": 3.0})
    assert game.paddle_axis == "rows" and game.paddle_moves == ("RIGHT", "LEFT")  # ALE's RIGHT moves it up

    def moves(*frames) -> list[str]:
        policy = make_exploration_policy(game, 1, 0, "follow")
        return [game.action_labels[policy.act(frame)[0]] for frame in frames]

    assert moves(_pong_frame(45, (28, 33))) == ["LEFT"]  # the ball below the paddle: down
    assert moves(_pong_frame(15, (28, 33))) == ["RIGHT"]  # above: up
    assert moves(_pong_frame(32, (28, 33))) == ["NOOP"]  # level with it, within the dead zone
    # the paddle hidden behind the bottom wall: followed from where it was last seen, not left alone
    assert moves(_pong_frame(52, (50, 55)), _pong_frame(20, None)) == ["NOOP", "RIGHT"]


def test_follower_settings_are_the_games_own_and_checked():
    pong = envs.info("Atari/Pong")
    policy = make_exploration_policy(pong, 1, 0, "follow")
    assert (policy.dead_zone, policy.brake) == (pong.paddle_follow["dead_zone"], pong.paddle_follow["brake"])
    breakout = make_exploration_policy(envs.info("Atari/Breakout"), 1, 0, "follow")
    assert (breakout.dead_zone, breakout.brake) == (BallFollowingPolicy.DEAD_ZONE, BallFollowingPolicy.BRAKE)
    with pytest.raises(ValueError, match="unknown paddle_follow settings"):
        make_exploration_policy(dataclasses.replace(pong, paddle_follow={"deadzone": 3.0}), 1, 0, "follow")
    with pytest.raises(ValueError, match="paddle_axis must be"):
        dataclasses.replace(pong, paddle_axis="up")


def _points_won(game_name: str, policy_name: str, seeds: range) -> float:
    """Points the exploration policy wins over whole real games (as recorded: no sticky actions)."""
    game, total = envs.info(game_name), 0.0
    for seed in seeds:
        env = envs.make(game_name)
        policy = make_exploration_policy(game, 1, seed, policy_name)
        frame, _ = env.reset(seed=seed)
        done = False
        while not done:
            frame, reward, terminated, truncated, _ = env.step(policy.act(frame[None])[0])
            total, done = total + max(reward, 0.0), terminated or truncated
        env.close()
    return total


def test_ball_follower_meets_breakouts_ball_more_often_than_random_play():
    # every point is a ball met and sent into the bricks
    assert _points_won("Atari/Breakout", "follow", range(4)) > 2 * _points_won("Atari/Breakout", "held", range(4))


def test_ball_follower_returns_pongs_ball_and_wins_points_random_play_does_not():
    # a point won is a ball returned past the opponent; held random play wins about 1 in 4 games
    assert _points_won("Atari/Pong", "follow", range(2)) >= 4 > _points_won("Atari/Pong", "held", range(2))
