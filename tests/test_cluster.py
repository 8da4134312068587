"""Real-game episodes on a real local Ray cluster (agents.cluster): the same episodes as the local
game processes, real-game CMA-ES through Ray that logs and resumes, and workers killed in the
middle of a run."""
import numpy as np
import pytest

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from agents.cluster import GameWorker, connect, ray_episodes  # noqa: E402
from agents.collect import collect  # noqa: E402
from agents.controller import load_controller  # noqa: E402
from agents.exploration import EpisodeSeeded  # noqa: E402
from agents.cmaes import read_log  # noqa: E402
from envs.runner import run_episodes  # noqa: E402
from worldsim.config import Config  # noqa: E402
from worldsim.data.episodes import list_episodes, load_episode  # noqa: E402
from worldsim.io import read_json  # noqa: E402
from worldsim.world_model import WorldModel  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A private two-CPU Ray cluster for this module."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield connect("local")
    ray.shutdown()


def _episodes(folder):
    return [load_episode(p) for p in list_episodes(folder)]


def test_collection_through_ray_records_the_same_episodes_as_local_game_processes(cluster, tmp_path):
    local = collect("Doom", tmp_path / "local", 4, workers=2, max_steps=40, seed=3, progress=False)
    remote = collect("Doom", tmp_path / "ray", 4, workers=2, max_steps=40, seed=3, progress=False, ray_address="local")
    assert local["episodes_recorded"] == remote["episodes_recorded"] == 4
    for a, b in zip(_episodes(tmp_path / "local"), _episodes(tmp_path / "ray"), strict=True):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.actions, b.actions)
    again = collect("Doom", tmp_path / "ray", 6, workers=2, max_steps=40, seed=3, progress=False, ray_address="local")
    assert again["episodes_recorded"] == 2 and len(list_episodes(tmp_path / "ray")) == 6  # resumes: only the missing


def test_workers_killed_mid_run_cost_only_their_episodes_which_are_played_again(cluster):
    seeds = list(range(20, 28))
    explore = {"kind": "exploration", "name": "held"}
    undisturbed = run_episodes("Doom", seeds, EpisodeSeeded(envs.info("Doom"), 2, "held"), workers=2, max_steps=60)
    killed, stats = [], {}

    def kill_every_worker(episode):
        if not killed:  # after the first episode: the other worker is in the middle of one
            for k in range(2):
                ray.kill(ray.get_actor(f"test-kill-{k}"), no_restart=False)
            killed.append(episode.index)

    disturbed = ray_episodes("local", "Doom", seeds, lambda i: explore, workers=2, max_steps=60,
                             on_episode=kill_every_worker, names="test-kill-", stats=stats)
    assert killed and stats["replayed"] >= 1
    assert [e.index for e in disturbed] == list(range(8)) and [e.seed for e in disturbed] == seeds
    assert [(e.total_reward, e.steps) for e in disturbed] == [(e.total_reward, e.steps) for e in undisturbed]


def test_a_worker_plays_one_episode_from_its_seed_without_ray():
    worker = GameWorker("Doom", evaluation=False)
    first = worker.play(7, 5, {"kind": "exploration", "name": "held"}, max_steps=10, record=True)
    again = worker.play(8, 5, {"kind": "exploration", "name": "held"}, max_steps=10, record=True)
    assert (first.index, first.seed, first.steps) == (7, 5, 10) and len(first.trajectory["frames"]) == 11
    np.testing.assert_array_equal(np.stack(first.trajectory["frames"]), np.stack(again.trajectory["frames"]))
    with pytest.raises(ValueError, match="world model's weights"):
        worker.play(9, 5, {"kind": "controller", "spec": {}, "params": []}, max_steps=10, record=False)


def test_real_game_cmaes_through_ray_matches_local_play_logs_and_resumes(cluster, smoke_runs, tmp_path):
    """Two generations of real-game CMA-ES with the candidates' episodes on Ray workers (which get
    V's and M's weights and C's parameters): the same returns as in local game processes; a
    second call with one more generation continues from the log."""
    from agents.controller_training import train_controller

    world = WorldModel.load(smoke_runs["CarRacing"].root)
    cfg = Config.from_dict(read_json(smoke_runs["CarRacing"].config_path))
    cfg.controller.world, cfg.controller.population, cfg.controller.rollouts = "real", 4, 1
    cfg.controller.generations, cfg.controller.eval_every, cfg.controller.eval_episodes = 2, 2, 2
    cfg.controller.max_steps = 30
    cfg.evaluate.workers = 2
    local = train_controller(world, cfg, tmp_path / "local", tmp_path / "local.pt", progress=False)
    cfg.ray.address, cfg.ray.workers = "local", 2
    remote = train_controller(world, cfg, tmp_path / "ray", tmp_path / "ray.pt", progress=False)
    assert remote["generations_run"] == local["generations_run"] == 2
    assert [g["returns"] for g in read_log(tmp_path / "ray" / "cmaes.jsonl")] == \
        [g["returns"] for g in read_log(tmp_path / "local" / "cmaes.jsonl")]
    assert load_controller(tmp_path / "ray.pt", env=cfg.env)[2]["trained_in"] == "real"
    cfg.controller.generations = 3
    resumed = train_controller(world, cfg, tmp_path / "ray", tmp_path / "ray.pt", progress=False)
    assert resumed["generations"] == 3 and resumed["generations_run"] == 1
    assert len(read_log(tmp_path / "ray" / "cmaes.jsonl")) == 3
