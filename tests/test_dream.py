"""The dream behaves like a game: gymnasium's checker passes, the batched form matches the
single one, and runs without V or M say which stage to run."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import worldsim  # noqa: F401  (registers worldsim/Dream-v0)
from conftest import assert_dream_dropout, run_script
from worldsim.dream import BatchedDream
from worldsim.dream_env import DreamEnv, DreamVectorEnv
from worldsim.run import RunDir, RunDirError
from worldsim.world_model import WorldModel


@pytest.mark.parametrize("env", ["Doom", "CarRacing"])
def test_dream_env_passes_gymnasium_env_checker(smoke_runs, env):
    dream = gym.make("worldsim/Dream-v0", run_dir=smoke_runs[env].root, temperature=1.15, render_mode="rgb_array")
    check_env(dream.unwrapped, skip_render_check=False)
    obs, _ = dream.reset(seed=0)
    world = dream.unwrapped.world
    assert obs.shape == (world.z_dim + world.mdnrnn.hidden,)
    assert dream.render().shape == (64, 64, 3)


def test_survival_game_pays_one_per_step_and_reward_game_pays_m_reward(smoke_runs):
    doom = DreamEnv(smoke_runs["Doom"].root)
    doom.reset(seed=0)
    assert doom.step(1)[1] == 1.0
    car = DreamEnv(smoke_runs["CarRacing"].root)
    car.reset(seed=0)
    reward = car.step(np.zeros(3, dtype=np.float32))[1]
    out, _ = car.world.mdnrnn(car.dream.episodes.z[:, None] * 0, torch.zeros(1, 1, 3))  # a real number from M's head
    assert isinstance(reward, float) and np.isfinite(reward) and np.isfinite(out.reward.item())


def test_batched_and_single_dream_follow_the_same_trajectory_at_zero_temperature(smoke_runs):
    world = WorldModel.load(smoke_runs["Doom"].root)
    single = BatchedDream(world, 1, temperature=0.0, seed=3)
    single.reset()
    batched = BatchedDream(world, 5, temperature=0.0, seed=99)
    batched.reset()
    batched.episodes.z[:] = single.episodes.z  # same starting latent in every row
    actions = [0, 2, 2, 1, 0, 0, 2, 1, 1, 2]
    for a in actions:
        s_obs, *_ = single.step(torch.tensor([a]))
        b_obs, *_ = batched.step(torch.full((5,), a))
        assert torch.allclose(b_obs, s_obs.expand(5, -1), atol=1e-5)


def test_vector_env_steps_many_episodes_with_done_masks(smoke_runs):
    vec = gym.make_vec("worldsim/Dream-v0", num_envs=6, run_dir=smoke_runs["Doom"].root,
                       vectorization_mode="vector_entry_point", max_episode_steps=5)
    obs, _ = vec.reset(seed=0)
    assert obs.shape[0] == 6
    ended = np.zeros(6, dtype=bool)
    restarting = np.zeros(6, dtype=bool)
    for _ in range(6):
        obs, reward, terminated, truncated, _ = vec.step(np.ones(6, dtype=np.int64))
        done = terminated | truncated
        # NEXT_STEP autoreset: the step after an episode's end starts a new one
        assert (reward[restarting] == 0).all() and not done[restarting].any()
        ended |= done
        restarting = done
    assert ended.all(), "the 5-step cap ends every episode that M has not ended first"


def test_wrong_action_raises_gymnasiums_error(smoke_runs):
    env = DreamEnv(smoke_runs["CarRacing"].root)
    env.reset(seed=0)
    with pytest.raises(gym.error.InvalidAction):
        env.step(np.zeros(5, dtype=np.float32))
    doom = DreamEnv(smoke_runs["Doom"].root)
    doom.reset(seed=0)
    with pytest.raises(gym.error.InvalidAction):
        doom.step(7)


def test_run_dir_without_m_names_the_stage_to_run(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    run = RunDir(tmp_path)
    run.root.mkdir(exist_ok=True)
    run.config_path.write_bytes(source.config_path.read_bytes())
    run.checkpoints.mkdir()
    run.vae_checkpoint.write_bytes(source.vae_checkpoint.read_bytes())
    with pytest.raises(RunDirError, match="train_mdnrnn.py"):
        DreamEnv(run.root)
    run.vae_checkpoint.unlink()
    with pytest.raises(RunDirError, match="train_vae.py"):
        DreamVectorEnv(4, run.root)


def test_done_rules_sample_m_probability_or_end_once_the_weighted_logit_crosses_zero(smoke_runs):
    world = WorldModel.load(smoke_runs["Doom"].root)
    w = world.done_pos_weight
    # p = 1 / (1 + w) exactly on the threshold; logits just below and above it, and far from it
    logits = torch.tensor([-20.0, -0.01, 0.01, 20.0]).repeat_interleave(4000)
    dream = BatchedDream(world, len(logits), seed=0)
    ends = dream.episodes._done(logits).float().reshape(4, -1).mean(1)
    expected = torch.sigmoid(torch.tensor([-20.0, -0.01, 0.01, 20.0]) - np.log(w))
    assert torch.allclose(ends, expected, atol=0.02), "sample: ends at M's unweighted probability"
    assert 0 < ends[1] < 0.2 and 0 < ends[2] < 0.2

    world.done_rule = "threshold"
    ends = BatchedDream(world, len(logits), seed=0).episodes._done(logits).float().reshape(4, -1).mean(1)
    assert ends.tolist() == [0.0, 0.0, 1.0, 1.0], "threshold: surely at a logit above 0, never below"


def test_unknown_done_rule_is_refused(smoke_runs):
    world = WorldModel.load(smoke_runs["Doom"].root)
    with pytest.raises(ValueError, match="known: sample, threshold"):
        type(world)(**{**world.__dict__, "done_rule": "never"})


def test_dream_dropout_gives_each_episode_its_own_mask_for_its_whole_length(smoke_runs):
    world = WorldModel.load(smoke_runs["Doom"].root)
    assert BatchedDream(world, 2).episodes.drop is None, "no dropout unless the run asks for it"
    world.dream_dropout = 0.25
    with torch.no_grad():
        dream, first = assert_dream_dropout(lambda n, tau, seed: BatchedDream(world, n, tau, seed=seed), 400, 10)
    assert abs((first == 0).float().mean().item() - 0.25) < 0.01
    dream.keep(torch.arange(400) >= 10)
    assert torch.equal(dream.episodes.drop, first[10:]), "dropping finished episodes keeps the others' masks"

def test_a_dream_ends_the_game_when_either_side_reaches_the_games_points(smoke_runs):
    """Pong ends at 21 points either way: the dream's episode ends on the step that pays the 21st
    point to either side, even where M's done head does not fire; a game without the rule plays on."""
    import dataclasses

    world = WorldModel.load(smoke_runs["Atari/Pong"].root)
    assert world.game.points_to_win == 21 and world.predict_reward
    values = world.mdnrnn.reward_values
    paid = torch.tensor([1.0, -1.0, 1.0, -1.0])

    def step(episodes):
        episodes.score = torch.tensor([[20.0, 0.0], [0.0, 20.0], [5.0, 5.0], [19.0, 19.0]])
        if values:  # M picks a reward class: its logit for each row's payment far above the others
            reward = torch.full((4, len(values)), -30.0)
            reward[torch.arange(4), [values.index(float(v)) for v in paid]] = 30.0
        else:
            reward = paid[:, None]
        _, got, terminated, truncated = episodes.finish_step(reward, torch.full((4,), -50.0))
        assert got.tolist() == paid.tolist() and not truncated.any()
        return terminated.tolist()

    assert step(BatchedDream(world, 4, seed=0).episodes) == [True, True, False, False]
    world.game = dataclasses.replace(world.game, points_to_win=0)
    assert step(BatchedDream(world, 4, seed=0).episodes) == [False, False, False, False]
    with pytest.raises(ValueError, match="points_to_win"):
        dataclasses.replace(world.game, points_to_win=-1)


def test_a_dream_refuses_per_episode_seeds_rather_than_ignoring_them(smoke_runs):
    dream = BatchedDream(WorldModel.load(smoke_runs["Doom"].root, "cpu"), 2)
    dream.reset(np.array([True, False]), seeds=[None, None])  # the shape the real games take, without seeds
    with pytest.raises(ValueError, match="own random stream"):
        dream.reset(None, seeds=[3, 4])


class _ScriptedPong:
    """Games for the rollout loop that pay a fixed script of points (+1 every 5th step, -1 every
    3rd) on random frames, and never end."""

    num_envs = 2

    def __init__(self):
        self.t, self.rng = 0, np.random.default_rng(0)

    def _frames(self):
        return self.rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)

    def reset(self, mask=None, seeds=None):
        return self._frames()

    def step(self, actions):
        self.t += 1
        reward = 1.0 if self.t % 5 == 0 else -1.0 if self.t % 3 == 0 else 0.0
        return self._frames(), np.array([reward, 0.0]), np.zeros(2, bool), np.zeros(2, bool)


def test_a_score_reading_m_counts_the_points_in_the_dream_and_in_the_real_game(smoke_runs, tmp_path):
    """With mdnrnn.score_scale, M reads the points won and lost so far: the dream counts what it
    pays, the real-game controller what the game pays (told by the rollout loop), each from 0-0
    at an episode's start; an M trained without the score is not resumed as one that reads it."""
    from agents.controller import ControllerSpec
    from agents.latent import LatentController
    from agents.rollout import rollout
    from worldsim.training.mdnrnn import MDNRNNTraining

    run = tmp_path / "score"
    fork = run_script("fork_run.py", "--from", str(smoke_runs["Atari/Pong"].root), "--to", str(run), "--share", "vae",
                      "--mdnrnn.score_scale", "21")
    assert fork.returncode == 0, fork.stderr[-3000:]
    trained = run_script("train_world_model.py", "--run-dir", str(run), "--stages", "mdnrnn", "--no-progress")
    assert trained.returncode == 0, trained.stderr[-3000:]
    world = WorldModel.load(run)
    assert world.mdnrnn.score_scale == 21 and world.mdnrnn.input_size == world.z_dim + world.mdnrnn.action_dim + 2

    dream = BatchedDream(world, 64, temperature=1.0, seed=0)
    dream.reset()
    counted = torch.zeros(64, 2)
    for t in range(20):
        _, reward, _, _ = dream.step(torch.randint(world.mdnrnn.action_dim, (64,), generator=torch.Generator().manual_seed(t)))
        counted += torch.stack([reward.clamp(min=0), (-reward).clamp(min=0)], dim=-1)
    assert counted.abs().sum() > 0, "the dream paid something to count"
    torch.testing.assert_close(dream.episodes.score, counted)
    dream.reset(torch.arange(64) < 32)
    assert dream.episodes.score[:32].abs().sum() == 0 and torch.equal(dream.episodes.score[32:], counted[32:])

    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    controller = LatentController(world, spec, np.zeros(spec.num_params, np.float32), 2)
    rollout(_ScriptedPong(), controller, steps=15)
    assert controller.score.tolist() == [[3.0, 4.0], [0.0, 0.0]]  # steps 5, 10, 15 won; 3, 6, 9, 12 lost
    controller.reset(np.array([True, False]))
    assert controller.score.abs().sum() == 0

    cfg = RunDir(run).load_config()
    cfg.mdnrnn.score_scale = 0.0
    with pytest.raises(ValueError, match="score divided by 21"):
        MDNRNNTraining(RunDir(run), cfg, torch.device("cpu")).resume()
