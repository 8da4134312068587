"""The one rollout loop (envs.rollout) over a tiny game with known episode lengths, and over real
game processes (envs.runner.RealGames)."""
import numpy as np
import pytest

from agents.rollout import Replay
from envs.rollout import rollout
from envs.runner import RealGames, run_episodes


class Countdown:
    """Rows whose episode lasts `seed` steps (3 without a seed), paying 1 per step; the observation
    is each row's steps left. Counts the steps it was asked to take in a finished row."""

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.left = np.zeros(num_envs, dtype=np.int64)
        self.started: list[int] = []

    def reset(self, mask=None, seeds=None):
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else mask
        for row in np.flatnonzero(mask):
            self.left[row] = 3 if seeds is None else seeds[row]
            self.started.append(int(self.left[row]))
        return self.left.copy()

    def step(self, actions):
        assert len(actions) == self.num_envs
        self.left -= 1
        return self.left.copy(), np.ones(self.num_envs, dtype=np.float32), self.left == 0, np.zeros(self.num_envs, bool)

    def keep(self, mask):
        self.left, self.num_envs = self.left[mask], int(mask.sum())


class Recorder:
    """Acts 0 in every row; remembers which rows it was told begin an episode, and drops rows with keep."""

    def __init__(self):
        self.resets, self.kept = [], []

    def act(self, obs):
        return np.zeros(len(obs), dtype=np.int64)

    def reset(self, mask):
        self.resets.append(np.flatnonzero(mask).tolist())

    def keep(self, mask):
        self.kept.append(int(mask.sum()))


def test_points_lost_are_counted_apart_from_the_return():
    class Rally(Countdown):
        """Countdown paying +1 on even steps left and -2 on odd ones."""

        def step(self, actions):
            obs, _, terminated, truncated = super().step(actions)
            return obs, np.where(obs % 2 == 0, 1.0, -2.0).astype(np.float32), terminated, truncated

    played = rollout(Rally(2), Recorder(), seeds=[3, 4, 1])
    # steps left after each step: 3 -> 2, 1, 0 (+1 -2 +1); 4 -> 3, 2, 1, 0 (-2 +1 -2 +1); 1 -> 0 (+1)
    np.testing.assert_array_equal(played.returns, [0, -2, 1])
    np.testing.assert_array_equal(played.lost, [2, 4, 0])


def test_each_row_is_refilled_with_the_next_seed_and_episodes_come_back_in_seed_order():
    games, policy = Countdown(2), Recorder()
    played = rollout(games, policy, seeds=[3, 1, 4, 1, 5])
    assert [e.index for e in played.episodes] == [0, 1, 2, 3, 4]
    assert [e.seed for e in played.episodes] == [3, 1, 4, 1, 5]
    np.testing.assert_array_equal(played.steps, [3, 1, 4, 1, 5])
    np.testing.assert_array_equal(played.returns, [3, 1, 4, 1, 5])
    assert played.ended.all() and games.started == [3, 1, 4, 1, 5]
    assert policy.resets[0] == [0, 1] and sum(len(r) for r in policy.resets) == 5  # told of every start


def test_max_steps_cuts_episodes_and_marks_them_truncated_not_ended():
    played = rollout(Countdown(2), Recorder(), seeds=[1, 5, 2], max_steps=2, record=True,
                     on_episode=lambda e: trajectories.append(e.trajectory))
    np.testing.assert_array_equal(played.steps, [1, 2, 2])
    np.testing.assert_array_equal(played.ended, [True, False, True])
    assert [len(t["frames"]) for t in trajectories] == [2, 3, 3]  # the first observation and one per step
    assert trajectories[1]["truncated"] == [False, True] and trajectories[1]["frames"][0] == 5


trajectories: list = []


def test_a_number_of_steps_plays_episode_after_episode_and_returns_the_one_still_running():
    played = rollout(Countdown(1), Recorder(), steps=7)
    np.testing.assert_array_equal(played.steps, [3, 3])
    assert [(e.index, e.steps, e.total_reward) for e in played.unfinished] == [(2, 1, 1.0)]


def test_finished_rows_leave_the_batch_once_half_of_it_is_done():
    games, policy = Countdown(4), Recorder()
    played = rollout(games, policy, seeds=[1, 1, 1, 4])
    assert policy.kept == [1] and games.num_envs == 1  # three of four ended after one step
    np.testing.assert_array_equal(played.steps, [1, 1, 1, 4])


def test_more_episodes_than_seeds_is_refused():
    with pytest.raises(ValueError, match="2 episodes but 3 seeds"):
        rollout(Countdown(1), Recorder(), 2, seeds=[1, 2, 3])


def test_real_games_refill_a_process_with_the_next_seed_as_one_process_alone_would():
    """Two CarRacing processes playing three seeds (three tracks) give each seed the frames one
    process gives it."""
    sequence = np.array([[0.0, 0.5, 0.0], [0.3, 0.5, 0.0], [-0.3, 0.0, 0.2]] * 2, dtype=np.float32)
    together = run_episodes("CarRacing", [5, 6, 7], Replay(sequence, 2), workers=2, max_steps=len(sequence), record=True,
                            on_episode=lambda e: frames.setdefault(("together", e.seed), e.trajectory["frames"]))
    assert [e.seed for e in together] == [5, 6, 7] and all(e.steps == len(sequence) for e in together)
    with RealGames("CarRacing", 1) as games:
        rollout(games, Replay(sequence, 1), seeds=[7], max_steps=len(sequence), record=True,
                on_episode=lambda e: frames.setdefault(("alone", e.seed), e.trajectory["frames"]))
    np.testing.assert_array_equal(np.stack(frames["together", 7]), np.stack(frames["alone", 7]))
    assert not np.array_equal(frames["together", 5][-1], frames["together", 7][-1])


frames: dict = {}
