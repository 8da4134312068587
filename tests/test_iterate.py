"""Iterative training adds the controller's real play to the data, trains M further, and
starts a new controller round while keeping the old one."""
import shutil

import numpy as np
import torch

from agents.iterate import iterate
from worldsim.checkpoint import load_checkpoint
from worldsim.data.episodes import list_episodes, load_episode
from worldsim.run import RunDir


def test_one_round_records_controller_play_and_trains_m_further(smoke_runs, tmp_path):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_runs["Doom"].root, run.root)
    cfg = run.load_config()
    before = len(list_episodes(run.episodes))
    steps_before = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"]

    result = iterate(run, cfg, torch.device("cpu"), episodes=2, epsilon=0.5, mdnrnn_steps=5, progress=False)

    paths = list_episodes(run.episodes)
    assert len(paths) == before + 2 and result["episodes_recorded"] == 2
    for path in paths[before:]:
        assert set(np.unique(load_episode(path).actions)) <= {0, 1, 2}
    assert len(list(run.latents.glob("ep_*.npz"))) == before + 2
    assert load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["state"]["step"] == steps_before + 5
    assert (run.root / "controller_round0" / "controller.pt").is_file()
    assert not run.stage_complete("controller") and not run.stage_complete("evaluate")
