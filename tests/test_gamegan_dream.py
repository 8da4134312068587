"""The GameGAN dream: the smoke pipeline with --world-model gamegan runs end to end; the dream
passes gymnasium's checker, replays a seed exactly, steps a batch as it steps its rows one by
one, keeps its done and truncation masks (memory on or off); CMA-ES trains C inside it; and
play.py and train_controller.py drive it from the command line."""
import dataclasses

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import worldsim  # noqa: F401  (registers worldsim/GameGANDream-v0)
from agents import pilot
from agents.controller import ControllerSpec, load_controller
from agents.controller_training import train_in_dream
from agents.evaluate import evaluate_controller
from agents.rollout import ControllerPolicy, rollout
from conftest import assert_dream_dropout, run_script
from worldsim.dream_env import DreamEnv
from worldsim.apps.dream_video import real_and_dream
from worldsim.gamegan_dream import BatchedGameGANDream
from worldsim.io import read_json
from worldsim.models.gamegan import GameGAN
from worldsim.models.vae import frames_to_tensor
from worldsim.run import RunDir, RunDirError
from worldsim.world_model import GameGANWorld, load_gamegan_world
from worldsim.dream_env import make_dream

GAMEGAN_STAGES = ["collect", "vae", "encode", "mdnrnn", "gamegan", "controller_gamegan", "evaluate_gamegan"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest


@pytest.fixture(scope="module")
def gamegan_run(tmp_path_factory) -> RunDir:
    """The smoke pipeline with --world-model gamegan, run from the command line once."""
    root = tmp_path_factory.mktemp("gamegan_run")
    proc = run_script("train_world_model.py", "--env", "Doom", "--preset", "smoke", "--run-dir", str(root),
                      "--world-model", "gamegan", "--device", "cpu", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return RunDir(root)


@pytest.fixture(scope="module")
def world(gamegan_run) -> GameGANWorld:
    return load_gamegan_world(gamegan_run.root, "cpu")


def test_gamegan_pipeline_runs_end_to_end_without_the_vm_controller(gamegan_run):
    stages = read_json(gamegan_run.report_path)["stages"]
    assert list(stages) == GAMEGAN_STAGES and all(s["status"] == "complete" for s in stages.values())
    assert stages["controller_gamegan"]["dream"] == "GameGAN dream"
    assert np.isfinite(stages["evaluate_gamegan"]["real_mean"]) and np.isfinite(stages["evaluate_gamegan"]["dream_mean"])
    folder, checkpoint = gamegan_run.controller_files("gamegan")
    assert checkpoint == gamegan_run.root / "controller_gamegan" / "controller.pt" and (folder / "fitness.png").is_file()
    assert load_controller(checkpoint, env="Doom/TakeCover")[2]["dream"] == "gamegan"
    assert not gamegan_run.controller_checkpoint.exists()
    proc = run_script("train_world_model.py", "--run-dir", str(gamegan_run.root), "--stages", "controller_gamegan",
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("already complete") == 1 and "[controller_gamegan] already complete" in proc.stdout


def test_gamegan_dream_env_passes_gymnasium_env_checker(gamegan_run, world):
    env = gym.make("worldsim/GameGANDream-v0", run_dir=gamegan_run.root, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert isinstance(env.unwrapped.dream, BatchedGameGANDream)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (world.z_dim + world.mdnrnn.hidden,) and env.render().shape == (64, 64, 3)
    # From a given real frame: the dream shows that frame and C sees V's mean of it, h = 0.
    frame = world.start_frames[-1].numpy()
    obs, _ = env.reset(options={"frame": frame})
    np.testing.assert_array_equal(env.render(), frame)
    mu, _ = world.vae.encode(frames_to_tensor(frame[None]))
    np.testing.assert_allclose(obs[: world.z_dim], mu[0].detach().numpy(), atol=1e-5)
    assert not obs[world.z_dim :].any()
    with pytest.raises(ValueError, match="starts from a frame"):
        env.reset(options={"z": np.zeros(world.z_dim, dtype=np.float32)})


def _play(dream: BatchedGameGANDream, actions: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    return [(*dream.step(a), dream.render()) for a in actions]


def test_same_seed_replays_and_a_batch_row_matches_a_batch_of_one(world):
    actions = torch.randint(0, 3, (6, 4), generator=torch.Generator().manual_seed(0))
    for temperature in (0.0, 1.0):
        runs = []
        for _ in range(2):
            dream = make_dream(world, 4, temperature, seed=5)
            dream.reset()
            runs.append(_play(dream, actions))
        for a, b in zip(*runs):
            assert all(torch.equal(x, y) for x, y in zip(a, b))
    batch = make_dream(world, 4, 0.0, seed=5)
    batch.reset()
    starts = batch.render().clone()
    steps = _play(batch, actions)
    for i in range(4):
        single = make_dream(world, 1, 0.0, seed=123)
        single.reset_to_frames(starts[i : i + 1])
        for t, (obs, *_, frame) in enumerate(_play(single, actions[:, i : i + 1])):
            torch.testing.assert_close(obs[0], steps[t][0][i], atol=1e-5, rtol=1e-5)
            assert (frame[0].int() - steps[t][4][i].int()).abs().max() <= 1


def test_a_gamegan_with_the_spatial_state_dreams_each_row_on_its_own(world):
    """gamegan.spatial: the dream carries S_t with the rest of the state: a row of a batch dreams
    what a batch of one dreams from its start, and dropped rows take their S_t with them."""
    torch.manual_seed(0)
    g = world.gamegan
    spatial = GameGAN(dataclasses.replace(g.config, spatial=4), g.action_dim, g.discrete_actions, g.flip_pairs).eval()
    with torch.no_grad():  # the renderer's readings of S_t start at zero: make them read it
        for name, p in spatial.named_parameters():
            if ".spatial.conv." in name:
                p.normal_(0, 0.5)
    w = dataclasses.replace(world, gamegan=spatial)
    actions = torch.randint(0, 3, (5, 3), generator=torch.Generator().manual_seed(0))
    batch = make_dream(w, 3, 0.0, seed=5)
    batch.reset()
    starts = batch.render().clone()
    steps = _play(batch, actions)
    assert batch.state.spatial.shape == (3, 4, 16, 16)
    for i in range(3):
        single = make_dream(w, 1, 0.0, seed=123)
        single.reset_to_frames(starts[i : i + 1])
        for t, (*_, frame) in enumerate(_play(single, actions[:, i : i + 1])):
            assert (frame[0].int() - steps[t][4][i].int()).abs().max() <= 1
    kept = batch.state.spatial[[0, 2]].clone()
    batch.keep(torch.tensor([True, False, True]))
    assert torch.equal(batch.state.spatial, kept) and batch.state.spatial_cell.shape == (2, 4, 16, 16)


def test_done_and_truncation_masks_and_dropped_rows(world):
    dream = make_dream(world, 6, 1.0, max_steps=3, seed=0)
    dream.reset()
    for step in range(1, 4):
        _, reward, terminated, truncated = dream.step(torch.ones(6, dtype=torch.long))
        assert (reward == 1.0).all(), "Doom TakeCover pays +1 per step survived"
        assert not (terminated & truncated).any()
        assert truncated.any() == (step == 3) and (step < 3 or (terminated | truncated).all())
    # Restart rows 0 and 2 only: the others carry on untouched.
    mask = torch.tensor([True, False, True, False, False, False])
    before, h_before = dream.obs.clone(), dream.state.h.clone()
    dream.reset(mask)
    assert torch.equal(dream.obs[~mask], before[~mask]) and torch.equal(dream.state.h[~mask], h_before[~mask])
    assert dream.episodes.t.tolist() == [0, 3, 0, 3, 3, 3] and not dream.obs[mask, world.z_dim :].any()
    dream.keep(~mask)
    assert dream.num_envs == 4 and dream.obs.shape[0] == 4 and dream.render().shape == (4, 64, 64, 3)
    assert all(x is None or len(x) == 4 for x in dream.state)
    dream.step(torch.zeros(4, dtype=torch.long))

    vec = gym.make_vec("worldsim/GameGANDream-v0", num_envs=5, world=world, vectorization_mode="vector_entry_point",
                       max_episode_steps=3)
    vec.reset(seed=0)
    ended, restarting = np.zeros(5, dtype=bool), np.zeros(5, dtype=bool)
    for _ in range(4):
        _, reward, terminated, truncated, _ = vec.step(np.ones(5, dtype=np.int64))
        done = terminated | truncated
        assert (reward[restarting] == 0).all() and not done[restarting].any()  # NEXT_STEP autoreset
        ended |= done
        restarting = done
    assert ended.all()


def test_dream_dropout_gives_each_gamegan_dream_episode_its_own_mask_too(world):
    """controller.dream_dropout acts in the GameGAN dream as in V+M's: every episode draws its
    own mask at reset, keeps it, and M (which tracks [z, h] here) reads through it."""
    dropped = dataclasses.replace(world, dream_dropout=0.25)
    assert_dream_dropout(lambda n, tau, seed: make_dream(dropped, n, tau, seed=seed), 300, 5)


def test_gamegan_without_memory_dreams_too(world):
    gc = dataclasses.replace(world.gamegan.config, memory=False, renderer="simple")
    plain = dataclasses.replace(world, gamegan=GameGAN(gc, world.gamegan.action_dim, True).eval())
    dream = make_dream(plain, 4, 1.0, max_steps=5, seed=0)
    dream.reset()
    assert dream.state.memory is None and dream.state.alpha is None and dream.state.read is None
    dream.step(torch.zeros(4, dtype=torch.long))
    dream.reset(torch.tensor([True, False, False, True]))
    dream.keep(torch.tensor([True, True, False, True]))
    assert dream.state.h.shape[0] == 3 and dream.state.memory is None
    spec = ControllerSpec.for_game(world.game, world.obs_dim)
    played = rollout(make_dream(plain, 6, 1.0, max_steps=5, seed=1), ControllerPolicy(spec, torch.zeros(6, spec.num_params)))
    returns, steps = played.returns, played.steps
    assert returns.shape == steps.shape == (6,) and (steps >= 1).all() and (steps <= 5).all()


def test_cmaes_in_the_gamegan_dream_makes_a_controller_evaluate_controller_loads(gamegan_run, world, tmp_path):
    cfg = gamegan_run.load_config()
    cfg.controller = dataclasses.replace(cfg.controller, population=4, rollouts=2, generations=2, eval_every=1,
                                         eval_episodes=2, max_steps=8)
    cfg.evaluate = dataclasses.replace(cfg.evaluate, episodes=1, max_steps=8, workers=1)
    result = train_in_dream(world, cfg, 0.5, tmp_path, tmp_path / "controller.pt", progress=False)
    assert result["generations"] == 2 and result["dream"] == "GameGAN dream"
    spec, params, meta = load_controller(tmp_path / "controller.pt", env=cfg.env)
    assert meta["dream"] == "gamegan" and meta["temperature"] == 0.5 and params.shape == (spec.num_params,)
    scores = evaluate_controller(world, cfg, tmp_path / "controller.pt", progress=False)
    assert scores["episodes"] == 1 and 0 < scores["real_mean"] <= 8 and 0 < scores["dream_mean"] <= 8
    assert scores["dream"] == "GameGAN dream" and scores["temperature"] == 0.5


def test_side_by_side_starts_the_gamegan_dream_from_the_real_first_frame(world):
    pair = real_and_dream(DreamEnv(world=world, render_mode="rgb_array"), pilot.exploration(world, 0), steps=3)
    np.testing.assert_array_equal(pair.dream[0], pair.real[0])
    assert pair.real.shape == pair.dream.shape and len(pair.real) >= 2


def test_play_and_train_controller_scripts_use_the_gamegan_dream(gamegan_run, tmp_path):
    gif = tmp_path / "dream.gif"
    proc = run_script("play.py", "--run-dir", str(gamegan_run.root), "--model", "gamegan", "--headless",
                      "--steps", "5", "--record", str(gif), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "controller plays 5 steps in the GameGAN dream" in proc.stdout
    assert len(iio.imread(gif)) == 5
    out = tmp_path / "c"
    proc = run_script("train_controller.py", "--run-dir", str(gamegan_run.root), "--model", "gamegan", "--out", str(out),
                      "--temperature", "0.7", "--controller.generations", "1", "--controller.population", "2",
                      "--controller.rollouts", "1", "--controller.eval_episodes", "2", "--controller.max_steps", "5",
                      "--evaluate.episodes", "1", "--evaluate.max_steps", "5", "--evaluate.workers", "1",
                      "--device", "cpu", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "controller.pt").is_file() and "GameGAN dream" in proc.stdout
    stage = read_json(gamegan_run.report_path)["stages"][f"controller_gamegan {out}"]
    assert stage["temperature"] == 0.7 and stage["episodes"] == 1 and "real_mean" in stage


def test_missing_gamegan_or_v_and_m_name_the_script_to_run(gamegan_run, tmp_path):
    run = RunDir(tmp_path)
    run.config_path.write_bytes(gamegan_run.config_path.read_bytes())
    with pytest.raises(RunDirError, match=r"no checkpoints/gamegan.pt; run `python scripts/train_gamegan.py"):
        load_gamegan_world(run.root)
    with pytest.raises(RunDirError, match="--gamegan.name other"):
        load_gamegan_world(run.root, name="other")
    run.checkpoints.mkdir()
    run.gamegan_checkpoint().write_bytes(gamegan_run.gamegan_checkpoint().read_bytes())
    with pytest.raises(RunDirError, match="train_vae.py"):
        DreamEnv(run.root, model="gamegan")
