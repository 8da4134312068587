"""Recording real play: complete episode files, resumable after a kill, damaged files handled."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from agents.collect import collect
from worldsim.data.episodes import EpisodeError, episode_path, list_episodes, load_episode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_episodes_are_complete_and_consistent(doom_run):
    run, cfg = doom_run
    paths = list_episodes(run.episodes)
    assert [p.name for p in paths] == [f"ep_{i:06d}.npz" for i in range(8)]
    for path in paths:
        ep = load_episode(path)
        assert ep.frames.shape[1:] == (64, 64, 3) and ep.frames.dtype == np.uint8
        assert len(ep.frames) == len(ep) + 1 <= 81
        assert set(np.unique(ep.actions)) <= {0, 1, 2}
        # only the last step may end the episode
        assert not (ep.terminated[:-1] | ep.truncated[:-1]).any()
        assert ep.terminated[-1] or ep.truncated[-1]


def test_killed_collection_resumes_without_loss_or_duplicates(tmp_path):
    folder = tmp_path / "episodes"
    code = (
        "from agents.collect import collect;"
        f"collect('Doom', r'{folder}', 6, workers=1, max_steps=150, seed=3, progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True)
    deadline = time.time() + 120
    while len(list_episodes(folder)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group, so the Doom game process goes too
    proc.wait()
    before = {p.name: _digest(p) for p in list_episodes(folder)}
    assert 2 <= len(before) < 6, "the kill should land mid-collection"

    stats = collect("Doom", folder, 6, workers=1, max_steps=150, seed=3, progress=False)
    after = {p.name: _digest(p) for p in list_episodes(folder)}
    assert sorted(after) == [f"ep_{i:06d}.npz" for i in range(6)]
    assert stats["episodes_recorded"] == 6 - len(before)
    assert all(after[name] == digest for name, digest in before.items()), "recorded episodes were rewritten"
    assert not list(folder.glob(".*.tmp")), "temporary files left behind"
    for path in list_episodes(folder):
        load_episode(path)


def test_damaged_episode_names_its_path_and_is_recorded_again(tmp_path):
    folder = tmp_path / "episodes"
    collect("Doom", folder, 2, workers=1, max_steps=30, progress=False)
    victim = episode_path(folder, 1)
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(EpisodeError, match=str(victim)):
        load_episode(victim)
    with pytest.warns(UserWarning, match="re-recording"):
        stats = collect("Doom", folder, 2, workers=1, max_steps=30, progress=False)
    assert stats["episodes_recorded"] == 1
    load_episode(victim)
