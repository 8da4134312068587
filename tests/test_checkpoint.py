"""Checkpoints carry metadata and refuse anything that is not exactly what was asked for."""
import pickle

import pytest
import torch

from worldsim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _save(path, kind="vae", env="Doom/TakeCover"):
    save_checkpoint(path, kind=kind, env=env, model={"w": torch.arange(6.0)}, meta={"z_dim": 8},
                    state={"epoch": 3})


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    _save(tmp_path / "m.pt")
    ckpt = load_checkpoint(tmp_path / "m.pt", kind="vae", env="Doom/TakeCover")
    assert torch.equal(ckpt["model"]["w"], torch.arange(6.0))
    assert ckpt["meta"] == {"z_dim": 8} and ckpt["state"]["epoch"] == 3


@pytest.mark.parametrize("kind,env,words", [("mdnrnn", None, "holds a 'vae' model"),
                                            ("vae", "CarRacing", "made for env 'Doom/TakeCover'")])
def test_checkpoint_for_another_model_or_env_is_refused(tmp_path, kind, env, words):
    _save(tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(tmp_path / "m.pt", kind=kind, env=env)


def test_truncated_checkpoint_is_refused(tmp_path):
    _save(tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_checkpoint(tmp_path / "m.pt", kind="vae")


class _Exploit:
    """Unpickling this would create a marker file: the attack weights_only must stop."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_file_crafted_to_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        torch.save({"format_version": 1, "kind": "vae", "payload": _Exploit(marker)}, f, pickle_module=pickle)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.pt", kind="vae")
    assert not marker.exists()


def test_missing_checkpoint_names_its_path(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt", kind="vae")
