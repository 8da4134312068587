"""Iterative training adds the controller's real play to the data, trains M further, and
starts a new controller round while keeping the old one."""
import shutil

import numpy as np
import torch

from agents.iterate import iterate
from conftest import run_script
from worldsim.checkpoint import load_checkpoint
from worldsim.data.episodes import list_episodes, load_episode
from worldsim.run import RunDir


def test_one_round_records_controller_play_and_trains_m_further(smoke_runs, tmp_path):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_runs["Doom"].root, run.root)
    cfg = run.load_config()
    before = len(list_episodes(run.episodes))
    steps_before = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"]

    result = iterate(run, cfg, torch.device("cpu"), before + 2, epsilon=0.5, total_mdnrnn_steps=steps_before + 5,
                     progress=False)

    paths = list_episodes(run.episodes)
    assert len(paths) == before + 2 and result["episodes_recorded"] == 2
    for path in paths[before:]:
        assert set(np.unique(load_episode(path).actions)) <= {0, 1, 2}
    assert len(list(run.latents.glob("ep_*.npz"))) == before + 2
    assert load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"] == steps_before + 5
    assert (run.root / "controller_round0" / "controller.pt").is_file()
    assert not run.stage_complete("controller") and not run.stage_complete("evaluate")


def test_pipeline_iterate_stage_runs_the_rounds_asked_for_and_ends_with_a_real_score(smoke_runs, tmp_path):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_runs["Doom"].root, run.root)
    cfg = run.load_config()
    assert run.stage("iterate")["rounds"] == 0  # the smoke preset iterates no rounds
    before = len(list_episodes(run.episodes))

    proc = run_script("train_world_model.py", "--run-dir", str(run.root), "--iterate.rounds", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert run.stage("iterate")["rounds"] == 1 and run.stage_complete("iterate_1")
    assert len(list_episodes(run.episodes)) == before + cfg.iterate.episodes
    step = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"]
    assert step == cfg.mdnrnn.steps + cfg.iterate.mdnrnn_steps
    assert (run.root / "controller_round0" / "controller.pt").is_file()
    assert run.stage_complete("controller") and run.stage_complete("evaluate")
    assert run.stage("evaluate")["episodes"] == cfg.evaluate.episodes

    again = run_script("train_world_model.py", "--run-dir", str(run.root), "--no-progress")
    assert again.returncode == 0 and "[iterate] already complete" in again.stdout


def test_iterate_script_takes_its_defaults_from_the_runs_config(smoke_runs, tmp_path):
    """scripts/iterate.py without --episodes / --mdnrnn-steps does what the run's iterate section
    says (it once had its own 2,000 M steps where the config said 2,500)."""
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_runs["Doom"].root, run.root)
    cfg = run.load_config()
    before = len(list_episodes(run.episodes))
    steps_before = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"]
    proc = run_script("iterate.py", "--run-dir", str(run.root), "--no-retrain", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list_episodes(run.episodes)) == before + cfg.iterate.episodes
    assert load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"] == steps_before + cfg.iterate.mdnrnn_steps
    assert run.stage("iterate_1")["epsilon"] == cfg.iterate.epsilon
