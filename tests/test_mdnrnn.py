"""M learns the game's latent dynamics: held-out NLL drops on real latents; training resumes
at the step it stopped; temperature sampling behaves as the paper describes."""
import copy

import numpy as np
import torch

from worldsim.checkpoint import load_checkpoint
from worldsim.models.mdnrnn import MDNOutput, MDNRNN, mdn_nll, sample_next_z
from worldsim.run import RunDir
from worldsim.training.mdnrnn import train_mdnrnn


def _run_with_latents(source: RunDir, tmp_path) -> RunDir:
    run = RunDir(tmp_path)
    run.root.mkdir(exist_ok=True)
    run.latents.symlink_to(source.latents, target_is_directory=True)
    return run


def test_nll_drops_below_initial_on_real_latents(trained_doom_run, tmp_path):
    source, cfg, _ = trained_doom_run
    cfg = copy.deepcopy(cfg)
    cfg.mdnrnn.steps, cfg.mdnrnn.eval_every, cfg.mdnrnn.lr = 80, 80, 3e-3
    report = train_mdnrnn(_run_with_latents(source, tmp_path), cfg, torch.device("cpu"), progress=False)
    assert report["val_nll"] < report["val_nll_untrained"] - 0.1


def test_reward_head_is_trained_for_games_with_real_reward(smoke_runs, tmp_path):
    source = smoke_runs["CarRacing"]
    cfg = copy.deepcopy(source.load_config())
    cfg.mdnrnn.steps = 10
    report = train_mdnrnn(_run_with_latents(source, tmp_path), cfg, torch.device("cpu"), progress=False)
    assert report["reward_mae"] is not None


def test_training_resumes_at_the_step_it_stopped(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    cfg = copy.deepcopy(source.load_config())
    run = _run_with_latents(source, tmp_path)
    cfg.mdnrnn.steps, cfg.mdnrnn.eval_every = 10, 10
    train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    first = run.mdnrnn_checkpoint.read_bytes()
    cfg.mdnrnn.steps = 20
    report = train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    ckpt = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")
    assert ckpt["state"]["step"] == 20 and ckpt["meta"]["history"]["latest"]["step"] == 20
    assert run.mdnrnn_checkpoint.read_bytes() != first
    assert report["val_nll_untrained"] == load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["meta"]["history"]["untrained"]["nll"]


def _two_component_output():
    # one latent dim, components at -3 (weight 0.9) and +3 (weight 0.1), sigma 0.5
    logpi = torch.log(torch.tensor([0.9, 0.1])).view(1, 1, 1, 2).repeat(4000, 1, 1, 1)
    mu = torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).repeat(4000, 1, 1, 1)
    logsigma = torch.full_like(mu, np.log(0.5))
    zeros = torch.zeros(4000, 1)
    return MDNOutput(logpi, mu, logsigma, zeros, zeros)


def test_low_temperature_picks_the_likely_mode_and_high_temperature_spreads():
    out = _two_component_output()
    g = torch.Generator().manual_seed(0)
    cold = sample_next_z(out, 0.001, g)  # noise sd 0.5 * sqrt(0.001) = 0.016
    assert (cold - -3.0).abs().max() < 0.1
    warm = sample_next_z(out, 1.0, g)
    assert 0.05 < (warm > 0).float().mean() < 0.15  # the 0.1 component
    hot = sample_next_z(out, 3.0, g)
    assert (hot > 0).float().mean() > (warm > 0).float().mean()  # flattened weights
    assert hot[hot < 0].std() > warm[warm < 0].std()  # wider Gaussians


def test_nll_is_lowest_at_the_predicted_mean():
    out = _two_component_output()
    at_mode = mdn_nll(out, torch.full((4000, 1, 1), -3.0)).mean()
    off_mode = mdn_nll(out, torch.full((4000, 1, 1), 0.0)).mean()
    assert at_mode < off_mode


def test_discrete_and_continuous_actions_are_accepted():
    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=True, hidden=8)
    out, state = m(torch.zeros(2, 5, 4), torch.tensor([[0, 1, 2, 1, 0]] * 2))
    assert out.mu.shape == (2, 5, 4, 5) and state[0].shape == (1, 2, 8)
    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=False, hidden=8)
    out, _ = m(torch.zeros(2, 5, 4), torch.zeros(2, 5, 3))
    assert out.done_logit.shape == (2, 5)


def test_zero_temperature_is_the_mean_of_the_likeliest_component():
    out = _two_component_output()
    assert torch.equal(sample_next_z(out, 0.0), torch.full((4000, 1), -3.0))
