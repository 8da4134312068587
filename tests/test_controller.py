"""Controllers: the paper's action mappings, save/load, CMA-ES that resumes where it was
killed, and a transfer evaluation that really plays the real game."""
import math
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agents.cmaes import ResumeError, distribution_mean, read_log, train_cmaes
from agents.controller import ControllerSpec, load_controller, save_controller
from agents.evaluate import evaluate_in_real_game
from agents.latent import LatentController
from worldsim.checkpoint import CheckpointError
from worldsim.config import Config, ControllerConfig
from worldsim.dream_env import make_dream
from worldsim.io import read_json
from worldsim.world_model import WorldModel

from conftest import run_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_action_mappings_follow_the_paper():
    doom = ControllerSpec.for_game(envs.info("Doom"), obs_dim=2)
    assert doom.mode == "threshold" and doom.num_params == 3
    obs = torch.tensor([[1.0, 0.0]] * 3)
    params = torch.tensor([[-3.0, 0, 0], [0.0, 0, 0], [3.0, 0, 0]])  # tanh(-3) < -1/3 < tanh(0) < 1/3 < tanh(3)
    assert doom.actions(params, obs).tolist() == [0, 1, 2]
    car = ControllerSpec.for_game(envs.info("CarRacing"), obs_dim=2)
    params = torch.zeros(3, car.num_params)
    params[:, -3:] = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [3.0, 3.0, 0.5]])  # biases
    a = car.actions(params, torch.zeros(3, 2))
    t1, t3, half = math.tanh(1), math.tanh(3), math.tanh(0.5)
    # steer tanh, gas tanh rescaled to [0, 1], brake tanh clipped to [0, 1] (off for any output <= 0)
    expected = [[-t1, (1 - t1) / 2, 0.0], [0.0, 0.5, 0.0], [t3, (1 + t3) / 2, half]]
    assert torch.allclose(a, torch.tensor(expected))
    pong = ControllerSpec.for_game(envs.info("Atari/Pong"), obs_dim=2)
    assert pong.mode == "argmax" and pong.out_dim == envs.info("Atari/Pong").action_space.n


def test_controller_round_trips_through_save_and_load(tmp_path):
    spec = ControllerSpec.for_game(envs.info("CarRacing"), obs_dim=7)
    params = np.random.default_rng(0).standard_normal(spec.num_params)
    save_controller(tmp_path / "c.pt", "CarRacing", spec, params, {"generation": 4})
    spec2, params2, meta = load_controller(tmp_path / "c.pt", env="CarRacing")
    assert spec2 == spec and meta["generation"] == 4
    np.testing.assert_array_equal(params2, params.astype(np.float32))
    obs = torch.randn(3, 7)
    p = torch.as_tensor(params2).expand(3, -1)
    assert torch.equal(spec.actions(p, obs), spec2.actions(p, obs))


def _sphere(candidates, generation):
    return -((candidates - 0.5) ** 2).sum(axis=1)  # best at 0.5 everywhere


def _train(out_dir, generations, saved):
    settings = ControllerConfig(population=8, sigma0=0.3, generations=generations, eval_every=2)
    return train_cmaes(5, _sphere, lambda p: _sphere(p[None], 0), settings, 7, out_dir,
                       lambda p, info: saved.append((p, info)), progress=False)


def test_cmaes_improves_and_resumes_exactly_where_it_stopped(tmp_path):
    saved = []
    straight = _train(tmp_path / "straight", 12, saved)
    assert straight["history"][-1]["best"] > straight["history"][0]["best"]
    assert saved and saved[-1][1]["eval_mean"] == max(s[1]["eval_mean"] for s in saved)

    _train(tmp_path / "resumed", 5, [])
    log = tmp_path / "resumed" / "cmaes.jsonl"
    log.write_text(log.read_text() + '{"generation": 5, "dig')  # a line torn by a kill
    resumed = _train(tmp_path / "resumed", 12, [])
    assert [r["generation"] for r in resumed["history"]] == list(range(12))
    assert [r["digest"] for r in resumed["history"]] == [r["digest"] for r in straight["history"]]


def test_cmaes_keeps_the_better_of_best_candidate_and_distribution_mean(tmp_path):
    evaluated, saved = [], []

    def evaluate(params):
        evaluated.append(params.copy())
        return _sphere(params[None], 0)

    settings = ControllerConfig(population=8, sigma0=0.3, generations=2, eval_every=2)
    result = train_cmaes(5, _sphere, evaluate, settings, 7, tmp_path, lambda p, info: saved.append((p, info)),
                         progress=False)
    assert len(evaluated) == 2  # the generation's best candidate and the search mean
    winner = max(evaluated, key=lambda p: _sphere(p[None], 0)[0])
    np.testing.assert_array_equal(saved[-1][0], winner)
    record = result["history"][-1]
    assert record["eval_of"] in ("best_candidate", "mean")
    assert record["eval_mean"] == max(record["eval_means"].values())


def test_distribution_mean_is_rebuilt_from_the_log(tmp_path):
    evaluated = []
    settings = ControllerConfig(population=8, sigma0=0.3, generations=4, eval_every=2)
    train_cmaes(5, _sphere, lambda p: evaluated.append(p.copy()) or _sphere(p[None], 0), settings, 7, tmp_path,
                lambda p, info: None, progress=False)
    log = tmp_path / "cmaes.jsonl"
    # each evaluation plays the generation's best candidate, then the search mean
    np.testing.assert_array_equal(distribution_mean(log, 5, settings, 7, 1), evaluated[1])
    np.testing.assert_array_equal(distribution_mean(log, 5, settings, 7, 3), evaluated[3])
    assert not np.array_equal(evaluated[1], evaluated[3])
    with pytest.raises(ValueError, match="generations 0-3"):
        distribution_mean(log, 5, settings, 7, 4)


def test_cmaes_refuses_to_resume_with_another_config(tmp_path):
    _train(tmp_path, 3, [])
    settings = ControllerConfig(population=10, sigma0=0.3, generations=5)
    with pytest.raises(ResumeError, match="does not replay"):
        train_cmaes(5, _sphere, lambda p: _sphere(p[None], 0), settings, 7, tmp_path, lambda p, i: None, progress=False)


def test_killed_cmaes_process_resumes_at_the_generation_it_stopped(tmp_path):
    code = (
        "import time, numpy as np\n"
        "from agents.cmaes import train_cmaes\n"
        "from worldsim.config import ControllerConfig\n"
        "def fit(c, g):\n"
        "    time.sleep(0.3)\n"
        "    return -((c - 0.5) ** 2).sum(axis=1)\n"
        f"train_cmaes(5, fit, lambda p: np.zeros(2), ControllerConfig(population=8, sigma0=0.3, generations=50), 7,"
        f" r'{tmp_path}', lambda p, i: None, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.time() + 60
    while len(read_log(tmp_path / "cmaes.jsonl")) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_log(tmp_path / "cmaes.jsonl"))
    assert 3 <= done < 50
    resumed = _train(tmp_path, done + 2, [])
    assert [r["generation"] for r in resumed["history"]] == list(range(done + 2))
    assert [r["digest"] for r in resumed["history"]] == [r["digest"] for r in _train(tmp_path / "ref", done + 2, [])["history"]]


def test_real_game_evaluation_plays_the_real_game(smoke_runs):
    """The score equals a hand-rolled loop over envs.make with the same seed and controller."""
    world = WorldModel.load(smoke_runs["Doom"].root)
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    params = np.random.default_rng(1).standard_normal(spec.num_params).astype(np.float32) * 0.3
    scores = evaluate_in_real_game(world, spec, params, [11, 12], workers=1)

    expected = []
    for seed in (11, 12):
        env = envs.make("Doom")
        controller = LatentController(world, spec, params, 1)
        frame, _ = env.reset(seed=seed)
        controller.reset(np.ones(1, dtype=bool))
        total, done = 0.0, False
        while not done:
            frame, reward, terminated, truncated, _ = env.step(int(controller.act(frame[None])[0]))
            total += reward
            done = terminated or truncated
        env.close()
        expected.append(total)
    assert scores.tolist() == expected
    assert all(s > 1 for s in expected)


def test_a_controller_can_read_m_cell_state_too(smoke_runs, tmp_path):
    """--controller.inputs zch: C reads [z, c, h] in the dream, the dream env and the real game;
    a world that gives [z, c, h] refuses a controller trained on [z, h], saying why."""
    source = smoke_runs["Doom"].root
    fork = run_script("fork_run.py", "--from", str(source), "--to", str(tmp_path / "zch"), "--share", "vae", "mdnrnn",
                      "--controller.inputs", "zch")
    assert fork.returncode == 0, fork.stderr[-3000:]
    trained = run_script("train_world_model.py", "--run-dir", str(tmp_path / "zch"), "--stages", "controller",
                         "--no-progress")
    assert trained.returncode == 0, trained.stderr[-3000:]

    world = WorldModel.load(tmp_path / "zch")
    assert world.controller_inputs == "zch" and world.obs_dim == world.z_dim + 2 * world.mdnrnn.hidden
    spec, params, _ = load_controller(tmp_path / "zch" / "checkpoints" / "controller.pt", env=world.env,
                                      obs_dim=world.obs_dim)
    assert spec.obs_dim == world.obs_dim
    env = gym.make("worldsim/Dream-v0", run_dir=str(tmp_path / "zch"))
    assert env.observation_space.shape == (world.obs_dim,)
    env.close()

    dream = make_dream(world, 4, seed=0)
    dream.reset()
    obs, *_ = dream.step(torch.ones(4, dtype=torch.long))
    assert torch.equal(obs, torch.cat([dream.episodes.z, dream.episodes.c, dream.episodes.h], dim=-1))
    assert not torch.equal(dream.episodes.c, dream.episodes.h)

    # In the real game: a controller that weighs only the cell state acts on M's c.
    game = envs.make("Doom")
    frame, _ = game.reset(seed=3)
    c_only = np.zeros(spec.num_params, dtype=np.float32)
    c_only[world.z_dim: world.z_dim + world.mdnrnn.hidden] = np.random.default_rng(0).standard_normal(world.mdnrnn.hidden)
    latent = LatentController(world, spec, c_only, 1)
    latent.reset(np.ones(1, dtype=bool))
    for _ in range(3):
        z = latent.encode(frame[None])
        by_hand = spec.actions(torch.as_tensor(c_only)[None], torch.cat([z, latent.c[0], latent.h[0]], dim=-1))
        assert torch.equal(latent.choose(z), by_hand)
        frame, *_ = game.step(int(latent.advance(z, by_hand)[0]))
    game.close()

    with pytest.raises(CheckpointError, match=r"\[z, c, h\]"):
        load_controller(source / "checkpoints" / "controller.pt", env=world.env, obs_dim=world.obs_dim)


def test_a_controller_can_read_z_alone(smoke_runs):
    """--controller.inputs z (the paper's "V model only" ablation): C reads V's z and nothing of M,
    in the dream and in the real game, with z_dim + 1 parameters per output."""
    import dataclasses

    world = dataclasses.replace(WorldModel.load(smoke_runs["Doom"].root), controller_inputs="z")
    assert world.obs_dim == world.z_dim
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    assert spec.num_params == spec.out_dim * (world.z_dim + 1)
    dream = make_dream(world, 4, seed=0)
    dream.reset()
    obs, *_ = dream.step(torch.ones(4, dtype=torch.long))
    assert torch.equal(obs, dream.episodes.z)

    params = np.random.default_rng(0).standard_normal(spec.num_params).astype(np.float32)
    latent = LatentController(world, spec, params, 1)
    latent.reset(np.ones(1, dtype=bool))
    game = envs.make("Doom")
    frame, _ = game.reset(seed=3)
    for _ in range(3):
        z = latent.encode(frame[None])
        assert torch.equal(latent.choose(z), spec.actions(torch.as_tensor(params)[None], z))
        frame, *_ = game.step(int(latent.advance(z, latent.choose(z))[0]))
    game.close()
    with pytest.raises(ValueError, match="known: zh, zch, z"):
        dataclasses.replace(world, controller_inputs="h")


def test_a_controller_with_a_hidden_layer_is_trained_in_the_dream_saved_and_played(smoke_runs, tmp_path):
    """--controller.hidden N: C is f(W2 tanh(W1 x + b1) + b2), its parameters W1, b1, W2, b2 in that
    order; CMA-ES trains it in the dream, its checkpoint keeps the layer, and the real game plays it."""
    import dataclasses

    from agents.controller_training import initial_params, train_in_dream

    spec = ControllerSpec.for_game(envs.info("Atari/Pong"), obs_dim=5, hidden=3)
    assert spec.num_params == 3 * 6 + spec.out_dim * 4
    params = torch.randn(2, spec.num_params)
    obs = torch.randn(2, 5)
    for row in range(2):
        w1, b1, w2, b2 = params[row].split([15, 3, 3 * spec.out_dim, spec.out_dim])
        out = w2.view(spec.out_dim, 3) @ torch.tanh(w1.view(3, 5) @ obs[row] + b1) + b2
        assert spec.actions(params[row : row + 1], obs[row : row + 1]).item() == out.argmax().item()
    with pytest.raises(ValueError, match="hidden units"):
        ControllerSpec(5, 2, "argmax", hidden=-1)
    # a search from scratch starts at zeros (None), the hidden layer too
    cfg = Config()
    assert initial_params(cfg, spec) is None

    run = smoke_runs["Doom"]
    world = WorldModel.load(run.root)
    cfg = run.load_config()
    cfg.controller = dataclasses.replace(cfg.controller, hidden=4, population=4, rollouts=1, generations=1,
                                         eval_every=1, eval_episodes=2, max_steps=6)
    result = train_in_dream(world, cfg, 1.0, tmp_path, tmp_path / "controller.pt", progress=False)
    trained, params, _ = load_controller(tmp_path / "controller.pt", env=cfg.env, obs_dim=world.obs_dim)
    assert trained.hidden == 4 and result["num_params"] == trained.num_params == 4 * (world.obs_dim + 1) + 1 * 5
    assert params.shape == (trained.num_params,)
    scores = evaluate_in_real_game(world, trained, params, [11], workers=1, max_steps=6)
    assert scores.shape == (1,) and 0 < scores[0] <= 6


def test_each_real_episode_can_be_played_by_its_own_controller(smoke_runs):
    """With one row of parameters per episode (a CMA-ES population), episode i is played by row i
    whatever game process it lands in: the scores equal each controller's own."""
    world = WorldModel.load(smoke_runs["CarRacing"].root)
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((3, spec.num_params)).astype(np.float32)
    alone = [evaluate_in_real_game(world, spec, row, [21], workers=1, max_steps=60)[0] for row in rows]
    assert len(set(alone)) == 3, "the three controllers drive differently"
    for workers in (1, 2):
        together = evaluate_in_real_game(world, spec, rows, [21, 21, 21], workers=workers, max_steps=60)
        np.testing.assert_allclose(together, alone, rtol=1e-6)


def test_cmaes_in_the_real_game_logs_saves_and_resumes(smoke_runs, tmp_path):
    """--controller.world real: the candidates play the real game (CarRacing's returns differ from
    controller to controller), the log and the best controller are written, and asking for more
    generations continues the same search."""
    from agents.controller_training import train_controller

    world = WorldModel.load(smoke_runs["CarRacing"].root)
    cfg = Config.from_dict(read_json(smoke_runs["CarRacing"].config_path))
    cfg.controller.world, cfg.controller.population, cfg.controller.rollouts = "real", 4, 1
    cfg.controller.generations, cfg.controller.eval_every, cfg.controller.eval_episodes = 1, 1, 2
    cfg.controller.max_steps = 40
    first = train_controller(world, cfg, tmp_path, tmp_path / "controller.pt", progress=False)
    log = read_log(tmp_path / "cmaes.jsonl")
    assert first["world"] == "real game" and len(log) == 1 and len(set(log[0]["returns"])) > 1
    assert load_controller(tmp_path / "controller.pt", env=cfg.env)[2]["trained_in"] == "real"
    cfg.controller.generations = 2
    second = train_controller(world, cfg, tmp_path, tmp_path / "controller.pt", progress=False)
    resumed = read_log(tmp_path / "cmaes.jsonl")
    assert second["generations"] == 2 and second["generations_run"] == 1 and resumed[0] == log[0]
    cfg.controller.world = "heaven"
    with pytest.raises(ValueError, match="known: dream, real"):
        train_controller(world, cfg, tmp_path, tmp_path / "controller.pt", progress=False)


def test_the_search_can_start_from_a_saved_controller(tmp_path):
    """controller.init: CMA-ES starts at a checkpoint's parameters (to fine-tune the dream-trained
    C in the real game), a resume with another start is refused, and so is a controller of another
    shape."""
    from agents.controller_training import initial_params

    spec = ControllerSpec.for_game(envs.info("Doom"), obs_dim=4)
    start = np.full(spec.num_params, 5.0, dtype=np.float32)
    save_controller(tmp_path / "start.pt", "Doom/TakeCover", spec, start, {})
    cfg = Config(env="Doom/TakeCover")
    cfg.controller = ControllerConfig(init=str(tmp_path / "start.pt"), population=8, sigma0=0.1, generations=1)
    seen = []

    def fitness(candidates, generation):
        seen.append(candidates.copy())
        return -np.abs(candidates).sum(axis=1)

    x0 = initial_params(cfg, spec)
    train_cmaes(spec.num_params, fitness, lambda p: np.zeros(2), cfg.controller, 7, tmp_path / "run",
                lambda p, i: None, progress=False, x0=x0)
    assert np.abs(seen[0].mean(axis=0) - 5.0).max() < 0.5, "the first generation is drawn around the start"
    cfg.controller.generations = 2
    with pytest.raises(ResumeError, match="starting point"):
        train_cmaes(spec.num_params, fitness, lambda p: np.zeros(2), cfg.controller, 7, tmp_path / "run",
                    lambda p, i: None, progress=False)
    other = ControllerSpec.for_game(envs.info("Doom"), obs_dim=5)
    save_controller(tmp_path / "other.pt", "Doom/TakeCover", other, np.zeros(other.num_params, np.float32), {})
    cfg.controller.init = str(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="reads 5 inputs"):
        initial_params(cfg, spec)


def test_a_step_bonus_adds_to_the_dream_fitness_and_not_to_the_kept_score(smoke_runs, tmp_path):
    """controller.step_bonus: the same candidates in the same dream score their points plus the
    bonus times the steps their episodes lasted, both logged; the evaluations that choose the kept
    controller count points only; training in the real game refuses it."""
    from agents.controller_training import generation_seed, train_controller
    from agents.evaluate import evaluate_in_dream

    world = WorldModel.load(smoke_runs["Atari/Pong"].root)
    cfg = Config.from_dict(read_json(smoke_runs["Atari/Pong"].config_path))
    cfg.controller.population, cfg.controller.rollouts, cfg.controller.generations = 4, 2, 1
    cfg.controller.eval_every, cfg.controller.eval_episodes, cfg.controller.max_steps = 1, 4, 60
    cfg.controller.dream_compile = False
    train_controller(world, cfg, tmp_path / "plain", tmp_path / "plain.pt", progress=False)
    cfg.controller.step_bonus = 0.5
    train_controller(world, cfg, tmp_path / "bonus", tmp_path / "bonus.pt", progress=False)
    plain, bonus = read_log(tmp_path / "plain" / "cmaes.jsonl")[0], read_log(tmp_path / "bonus" / "cmaes.jsonl")[0]
    assert "points_mean" not in plain and bonus["digest"] == plain["digest"], "the same candidates"
    assert bonus["points_mean"] == pytest.approx(plain["mean"])
    assert bonus["mean"] == pytest.approx(plain["mean"] + 0.5 * bonus["steps_mean"])
    assert bonus["steps_mean"] > 0
    spec, params, meta = load_controller(tmp_path / "bonus.pt", env=cfg.env)
    points = evaluate_in_dream(world, spec, params, 4, cfg.controller.temperature,
                               seed=generation_seed(cfg.seed, 0, 1), max_steps=60)
    assert meta["eval_mean"] == pytest.approx(points.mean()), "the kept controller is scored by points only"
    cfg.controller.world = "real"
    with pytest.raises(ValueError, match="step_bonus"):
        train_controller(world, cfg, tmp_path / "real", tmp_path / "real.pt", progress=False)
