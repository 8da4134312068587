"""GameGAN: every component's shapes, the memory's attention arithmetic, the warm-up schedule,
that training lowers its losses on a fixed batch, that a saved model reloads exactly, and that
the training loop on a real (tiny) Doom run resumes where it stopped."""
import copy
import dataclasses
import os

import numpy as np
import pytest
import torch

import envs
from worldsim.checkpoint import CheckpointError
from worldsim.config import GameGANConfig, make_config, resolve
from agents.collect import collect
from worldsim.logger import read_scalars
from worldsim.models.gamegan import GameGAN
from worldsim.models.gamegan.discriminators import (ActionDiscriminator, Discriminators, FrameDiscriminator,
                                                    TemporalDiscriminator, differing_cells)
from worldsim.models.gamegan.dynamics import DynamicsEngine
from worldsim.models.gamegan.losses import (change_weights, discriminator_loss, generator_loss, reconstruction_loss,
                                           wrong_actions)
from worldsim.models.gamegan.model import stored_config
from worldsim.data.synthetic import TINY_GAMEGAN as TINY, moving_square_clips
from worldsim.models.gamegan.memory import Memory
from worldsim.models.gamegan.renderer import (TURNS, KeepMask, MotionSkip, SimpleRenderer, SpecializedRenderer,
                                              keep_moving, to_pixels)
from worldsim.run import RunDir
from worldsim.models.gamegan import load_gamegan
from worldsim.training.gamegan import GameGANTrainer, evaluate_gamegan, recon_only_warm_up, train_gamegan, warm_up_at


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest


def tiny() -> GameGANConfig:
    return copy.deepcopy(make_config("Doom", "smoke").gamegan)


def test_component_shapes():
    b = 3
    dyn = DynamicsEngine(hidden=16, action_dim=3, noise_dim=4, read_dim=8, channels=4, action_embed=8)
    h, c, spatial, _ = dyn.initial_state(torch.rand(b, 3, 64, 64))
    assert spatial is None  # without gamegan.spatial
    h, c, *_ = dyn(h, c, torch.rand(b, 3, 64, 64), torch.eye(3)[[0, 1, 2]], torch.randn(b, 4), torch.randn(b, 8))
    assert h.shape == c.shape == (b, 16)

    mem = Memory(5, 7, 8, hidden=16, action_dim=3, discrete_actions=True, flip_pairs=[(0, 2)])
    memory, alpha = mem.initial_state(b, "cpu")
    assert memory.shape == (b, 35, 8) and alpha.shape == (b, 5, 7) and alpha[:, 2, 3].eq(1).all()
    alpha = mem.attend(alpha, torch.eye(3), h)
    memory = mem.write(memory, alpha, h)
    assert memory.shape == (b, 35, 8) and mem.read(memory, alpha).shape == (b, 8)

    assert SimpleRenderer(16, 8, channels=4)(h, torch.randn(b, 8))["frame"].shape == (b, 3, 64, 64)
    out = SpecializedRenderer(16, 8, channels=4, components=3, type_dim=4, attribute_dim=4, map_size=8)(
        h, torch.randn(b, 8))
    assert out["frame"].shape == (b, 3, 64, 64) and out["components"].shape == (b, 3, 3, 64, 64)
    assert out["masks"].shape == (b, 3, 1, 64, 64) and out["sketch"].shape == (b, 3, 1, 8, 8)
    torch.testing.assert_close(out["masks"].sum(1), torch.ones(b, 1, 64, 64))
    assert out["frame"].min() >= 0 and out["frame"].max() <= 1

    logits, features = FrameDiscriminator(4)(torch.rand(b, 3, 64, 64))
    assert logits.shape == (b,) and [f.shape[-1] for f in features] == [32, 16, 8, 4]
    d = ActionDiscriminator(action_dim=3, noise_dim=4, channels=4)(
        torch.rand(b, 3, 64, 64), torch.rand(b, 3, 64, 64), torch.eye(3), wrong_action=torch.eye(3)[[1, 2, 0]])
    assert d["logit"].shape == d["wrong_logit"].shape == (b,)
    assert d["action"].shape == (b, 3) and d["noise"].shape == (b, 4)
    scales = TemporalDiscriminator(4, scales=3)(torch.rand(b, 5, 3, 64, 64))
    assert len(scales) == 3 and all(s.shape[0] == b and s.shape[1] > 0 for s in scales)


def test_rollout_and_dream_step_shapes():
    gc = tiny()
    model = GameGAN(gc, action_dim=3, discrete_actions=True, flip_pairs=[(0, 2)])
    frames = torch.randint(0, 256, (2, 7, 64, 64, 3), dtype=torch.uint8)  # channel-last uint8 is accepted
    out = model.rollout(frames, torch.randint(0, 3, (2, 6)), warm_up=3, cycle=True)
    assert out["frames"].shape == out["inputs"].shape == out["cycle_static"].shape == (2, 6, 3, 64, 64)
    assert out["masks"].shape == (2, 6, 2, 1, 64, 64) and out["alphas"].shape == (2, 6, 5, 5)
    assert out["hidden"].shape == (2, 6, gc.hidden) and out["noise"].shape == (2, 6, gc.noise_dim)
    real = frames.permute(0, 1, 4, 2, 3).float() / 255
    assert torch.equal(out["inputs"][:, :3], real[:, :3])  # warm-up steps read the real frames
    assert torch.equal(out["inputs"][:, 3:], out["frames"][:, 2:-1])  # later steps read their own
    state = model.init_state(frames[:, 0])
    state, step = model.step(state, torch.tensor([0, 2]))
    assert state.frame.shape == step["frame"].shape == (2, 3, 64, 64)
    continuous = GameGAN(dataclasses.replace(gc, memory=False, renderer="simple"), action_dim=3, discrete_actions=False)
    assert continuous.rollout(frames, torch.rand(2, 6, 3), warm_up=0)["frames"].shape == (2, 6, 3, 64, 64)


def test_memory_attention_stays_a_distribution():
    torch.manual_seed(0)
    mem = Memory(5, 5, 4, hidden=8, action_dim=3, discrete_actions=True, flip_pairs=[(0, 2)])
    _, alpha = mem.initial_state(4, "cpu")
    for _ in range(60):
        alpha = mem.attend(alpha, torch.eye(3)[torch.randint(0, 3, (4,))], torch.randn(4, 8) * 3)
    assert alpha.min() >= 0
    torch.testing.assert_close(alpha.sum((1, 2)), torch.ones(4))


def test_flipped_kernel_moves_right_then_back():
    mem = Memory(5, 5, 4, hidden=8, action_dim=3, discrete_actions=True, flip_pairs=[(0, 2)])
    with torch.no_grad():
        last = mem.kernel[-1]
        last.weight.zero_()
        last.bias.fill_(-30.0)
        last.bias[1 * 3 + 2] = 30.0  # kernel entry [1 + dy, 1 + dx] = [1, 2]: one cell right
        mem.gate.weight.zero_()
        mem.gate.bias.fill_(30.0)  # always move
    _, start = mem.initial_state(1, "cpu")
    h = torch.zeros(1, 8)
    right = mem.attend(start, torch.eye(3)[[0]], h)
    assert right[0, 2, 3] > 0.999 and right[0, 2, 2] < 1e-3
    back = mem.attend(right, torch.eye(3)[[2]], h)
    torch.testing.assert_close(back, start, atol=1e-4, rtol=0)
    blocked = start
    for _ in range(5):  # the border stops the attention instead of losing or wrapping it
        blocked = mem.attend(blocked, torch.eye(3)[[0]], h)
    assert blocked[0, 2, 4] > 0.999


def _left_right_memory(temperature: float) -> Memory:
    """A memory whose kernel puts a logit margin of 2 on "one cell left" for action 0 (action 2
    its mirror, right) and whose gate always moves."""
    mem = Memory(11, 11, 4, hidden=8, action_dim=3, discrete_actions=True, flip_pairs=[(0, 2)],
                 kernel_temperature=temperature)
    with torch.no_grad():
        last = mem.kernel[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[1 * 3 + 0] = 2.0  # kernel entry [1 + dy, 1 + dx] = [1, 0]: one cell left
        mem.gate.weight.zero_()
        mem.gate.bias.fill_(30.0)
    return mem


@pytest.mark.parametrize("temperature, back_at_start", [(0.1, (0.95, 1.0)), (1.0, (0.0, 0.3))])
def test_attention_moved_left_then_right_returns_to_its_start_at_the_kernel_temperature(temperature, back_at_start):
    """At the released temperature 0.1 four steps left and four right bring the attention back to
    its cell; at 1.0 the same kernel logits smear it over the grid (the memory cannot hold a map)."""
    mem = _left_right_memory(temperature)
    _, alpha = mem.initial_state(1, "cpu")
    h = torch.zeros(1, 8)
    for action in [0] * 4:
        alpha = mem.attend(alpha, torch.eye(3)[[action]], h)
    if temperature == 0.1:
        assert alpha[0, 5, 1] > 0.95  # four cells left of the centre
    for action in [2] * 4:
        alpha = mem.attend(alpha, torch.eye(3)[[action]], h)
    low, high = back_at_start
    assert low <= alpha[0, 5, 5].item() <= high


def test_warm_up_schedule():
    values = [warm_up_at(step, 16, 100) for step in range(0, 300, 5)]
    assert values[0] == 16 and values[-1] == 0 and min(values) == 0
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert warm_up_at(100, 16, 100) == 0 and warm_up_at(10_000, 16, 100) == 0


def test_teacher_forcing_never_drops_below_its_floor():
    values = [warm_up_at(step, 16, 1000, floor=4) for step in range(0, 5000, 7)]
    assert values[0] == 16 and min(values) == 4 and values[-1] == 4
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert GameGANConfig().warm_up_floor >= 1 and make_config("Doom", "paper").gamegan.warm_up_floor >= 1


def test_the_open_loop_warm_start_hands_steps_to_the_model_by_its_midpoint():
    """gamegan.recon_only_open_loop: teacher forcing falls from every step of the clip to the floor
    over the warm start's first half; without it, every warm-start step is teacher-forced."""
    gc = dataclasses.replace(GameGANConfig(), clip_len=12, warm_up_floor=3, recon_only_steps=1000)
    assert {recon_only_warm_up(step, gc) for step in range(1000)} == {12}
    values = [recon_only_warm_up(step, dataclasses.replace(gc, recon_only_open_loop=True)) for step in range(1000)]
    assert values[0] == 12 and values[250] == 6 and set(values[500:]) == {3}
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_reconstruction_loss_has_the_documented_scale():
    """Frames wrong by 0.1 at every one of their 3 x 64 x 64 values: frame_sum gives 12,288 x 0.01
    per frame under l2 (12,288 x 0.1 under l1), whatever the number of frames; mean gives 0.01."""
    real, fake = torch.full((2, 5, 3, 64, 64), 0.5), torch.full((2, 5, 3, 64, 64), 0.6)
    assert reconstruction_loss(fake, real, "l2", "frame_sum").item() == pytest.approx(122.88, rel=1e-4)
    assert reconstruction_loss(fake[:1, :2], real[:1, :2], "l2", "frame_sum").item() == pytest.approx(122.88, rel=1e-4)
    assert reconstruction_loss(fake, real, "l1", "frame_sum").item() == pytest.approx(1228.8, rel=1e-4)
    assert reconstruction_loss(fake, real, "l2", "mean").item() == pytest.approx(0.01, rel=1e-4)
    with pytest.raises(ValueError, match="recon_reduction"):
        reconstruction_loss(fake, real, "l2", "sum")


def test_pixels_that_change_in_the_real_clip_weigh_change_weight():
    before, after = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    after[0, 1, 10, 20] = 0.5  # one pixel changes (in one channel)
    after[0, 0, 30, 30] = 0.03  # below the threshold: not a change
    weights = change_weights(before, after, 10.0)
    assert weights.shape == (1, 1, 64, 64) and weights[0, 0, 10, 20] == 10 and weights.sum() == 4095 + 10
    fake = after + 0.1  # wrong by 0.1 everywhere: the changed pixel's 3 values count 10 times
    weighted = reconstruction_loss(fake, after, "l2", "frame_sum", weights).item()
    assert weighted == pytest.approx(0.01 * 3 * (4095 + 10), rel=1e-4)
    assert reconstruction_loss(fake, after, "l2", "frame_sum", change_weights(before, after, 1.0)).item() == \
        pytest.approx(reconstruction_loss(fake, after, "l2", "frame_sum").item())


def test_the_motion_skip_carries_an_object_by_its_kernel():
    """A kernel peaked 3 pixels off centre, chosen everywhere, moves a square 3 pixels; at
    initialisation "stay" has most of the weight, and the choice is a distribution per pixel."""
    torch.manual_seed(0)
    skip = MotionSkip(hidden=8, kernels=2, radius=4)
    frame = torch.zeros(1, 3, 64, 64)
    frame[0, :, 30:34, 20:28] = 1.0
    h = torch.randn(1, 8)
    moved, choice = skip(h, frame)
    assert choice.shape == (1, 3, 64, 64) and torch.allclose(choice.sum(1), torch.ones(1, 64, 64))
    assert 0.75 < choice[:, 0].mean().item() < 0.82  # e^2 / (e^2 + 2)
    torch.testing.assert_close(moved.sum(), frame.sum())  # kernels move pixels, they do not add any
    with torch.no_grad():
        skip.kernel_logits.weight.zero_()
        bias = torch.full((2, 81), -30.0)
        bias[0, 4 * 9 + 4 + 3] = 30.0  # kernel 1: three columns right of centre
        bias[1, 40] = 30.0  # kernel 2: the centre
        skip.kernel_logits.bias.copy_(bias.flatten())
        skip.choice.bias.view(3, 256).copy_(torch.tensor([-30.0, 30.0, -30.0])[:, None])
    moved, _ = skip(h, frame)
    columns = (moved[0, 0] > 0.5).any(dim=0).nonzero().flatten()
    assert columns.min().item() == 17 and columns.max().item() == 24  # 20..27 moved 3 to the left
    with pytest.raises(ValueError, match="kernels >= 1"):
        MotionSkip(8, 0, 4)


def test_the_sharp_motion_skip_moves_without_blurring_and_still_learns():
    """Ten moves by a kernel that leans 1 pixel right: the soft skip smears the square, the sharp
    one (gamegan.motion_sharp) carries it 10 pixels whole; its gradient still reaches the kernels."""
    torch.manual_seed(0)
    frame = torch.zeros(1, 3, 64, 64)
    frame[0, :, 30:34, 20:28] = 1.0
    h = torch.randn(1, 8)
    moved = {}
    for sharp in (False, True):
        skip = MotionSkip(hidden=8, kernels=1, radius=2, sharp=sharp)
        with torch.no_grad():
            skip.kernel_logits.weight.zero_()
            skip.kernel_logits.bias.copy_(torch.zeros(25))
            skip.kernel_logits.bias[2 * 5 + 2 + 1] = 2.0  # one column right of centre: most likely, not all
            skip.choice.weight.zero_()
            skip.choice.bias.view(2, 256).copy_(torch.tensor([-1.0, 1.0])[:, None])  # "move" wins, softly
        x = frame
        for _ in range(10):
            x, _ = skip(h, x)
        moved[sharp] = x
    assert moved[False].max().item() < 0.9  # the soft moves blur the square
    columns = (moved[True][0, 0] > 0.5).any(dim=0).nonzero().flatten()
    assert columns.min().item() == 10 and columns.max().item() == 17  # 20..27 moved 10 to the left, whole
    assert set(moved[True].unique().tolist()) == {0.0, 1.0}
    x, _ = skip(h, frame)
    (x * torch.linspace(0, 1, 64)).sum().backward()
    assert skip.kernel_logits.bias.grad.abs().sum().item() > 0 and skip.choice.bias.grad.abs().sum().item() > 0


def test_a_gamegan_with_the_motion_skip_steps_saves_its_choice_and_needs_the_copy_skip():
    frames = torch.rand(2, 3, 64, 64)
    model = GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=2, motion_radius=3), 3, True)
    _, out = model.step(model.init_state(frames), torch.tensor([0, 2]), torch.zeros(2, tiny().noise_dim))
    assert out["motion"].shape == (2, 3, 64, 64) and out["frame"].shape == (2, 3, 64, 64)
    assert model.renderer.motion.kernel_logits.out_features == 2 * 7 * 7
    plain = GameGAN(dataclasses.replace(tiny(), skip=False, motion_kernels=2), 3, True)
    assert plain.renderer.motion is None
    assert stored_config({"gamegan": {}})["motion_kernels"] == 0  # checkpoints from before it: none


def test_keep_moving_carries_a_ball_on_at_its_own_speed_and_the_step_reads_the_frame_before():
    """gamegan.motion_local: a ball that moved 2 columns left and 1 row down from x_{t-1} to x_t is
    carried as far again, whole, and the pixels it left go black; a flat area stays put; the skip
    offers it as one more choice, and each step passes it the frame read one step earlier."""
    frame, before = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    frame[0, 0, 31:34, 20:23] = 1.0
    before[0, 0, 30:33, 22:25] = 1.0
    frame[0, 1:, 5:15, 5:40] = before[0, 1:, 5:15, 5:40] = 0.6  # a wall of one colour
    moved = keep_moving(frame, before, radius=4)[:, :, 0]
    ball = moved[0, 0] > 0.5
    assert ball.nonzero().min(dim=0).values.tolist() == [32, 18] and ball.nonzero().max(dim=0).values.tolist() == [34, 20]
    assert moved[0, 0].max().item() > 0.95 and moved[0, 0, 31, 21:23].abs().max().item() < 0.05
    torch.testing.assert_close(moved[0, 1:, 5:15, 5:40], frame[0, 1:, 5:15, 5:40], atol=0.02, rtol=0)
    whole = keep_moving(frame, before, radius=4, whole=True)[:, :, 0]
    torch.testing.assert_close(whole[0, 0, 32:35, 18:21], torch.ones(3, 3))  # moved, not spread
    assert whole[0, 0].sum().item() == frame[0, 0].sum().item()
    skip = MotionSkip(hidden=8, kernels=1, radius=4, local=True)
    h = torch.randn(1, 8)
    _, choice = skip(h, frame, before)
    assert choice.shape == (1, 3, 64, 64)
    torch.testing.assert_close(choice[:, 2], choice[:, 1])  # chosen as little as the kernel at first
    with pytest.raises(ValueError, match="motion_local needs the motion skip"):
        GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=0, motion_local=True), 3, True)
    model = GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=1, motion_local=True), 3, True)
    seen = []
    model.renderer.motion.register_forward_pre_hook(lambda _module, args: seen.append(args[2]))
    frames = torch.rand(2, 4, 3, 64, 64)
    model.rollout(frames, torch.randint(0, 3, (2, 3)), warm_up=3)
    torch.testing.assert_close(seen[0], frames[:, 0])  # the first step has no earlier frame: x_0 again
    torch.testing.assert_close(seen[2], frames[:, 1])  # teacher-forced: the real x_1 at step 2
    assert stored_config({"gamegan": {}})["motion_local"] is False  # checkpoints from before it: none


def test_keep_moving_turned_sends_a_ball_off_a_wall_and_leaves_still_pixels_alone():
    """gamegan.motion_bounce: a ball that moved 2 columns left and 1 row up is carried on by each
    turn the way it names (right: 2 columns right, 1 row up; down: 1 row down, 2 columns left); a
    wall that did not move stays under every turn; the skip offers the four turns after "keep
    moving", and the setting is refused without it."""
    frame, before = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    frame[0, 0, 30:33, 20:23] = 1.0
    before[0, 0, 31:34, 22:25] = 1.0
    frame[0, 1:, 5:15, 2:5] = before[0, 1:, 5:15, 2:5] = 0.6  # a wall of one colour
    moved = keep_moving(frame, before, radius=4, turns=TURNS)
    assert moved.shape == (1, 3, len(TURNS), 64, 64)
    expected = {"on": (-1, -2), "down": (1, -2), "up": (-1, -2), "right": (-1, 2), "left": (-1, -2)}
    for i, turn in enumerate(TURNS):
        ball = (moved[0, 0, i] > 0.5).nonzero()
        dy, dx = expected[turn]
        assert ball.min(dim=0).values.tolist() == [30 + dy, 20 + dx], turn
        assert ball.max(dim=0).values.tolist() == [32 + dy, 22 + dx], turn
        torch.testing.assert_close(moved[0, 1:, i, 5:15, 2:5], frame[0, 1:, 5:15, 2:5], atol=0.02, rtol=0)
    skip = MotionSkip(hidden=8, kernels=1, radius=4, local=True, bounce=True)
    _, choice = skip(torch.randn(1, 8), frame, before)
    assert choice.shape == (1, 2 + len(TURNS), 64, 64)
    torch.testing.assert_close(choice[:, -1], choice[:, 1])  # each turn chosen as little as the kernel at first
    with pytest.raises(ValueError, match="motion_bounce needs gamegan.motion_local"):
        GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=1, motion_bounce=True), 3, True)
    with pytest.raises(ValueError, match="motion_bounce needs the motion skip"):
        GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=0, motion_bounce=True), 3, True)
    assert stored_config({"gamegan": {}})["motion_bounce"] is False  # checkpoints from before it: none


def test_onward_keeps_a_moving_ball_going_where_the_state_chooses_stay():
    """gamegan.motion_onward: with every pixel's choice "stay", the plain skip leaves a ball where
    it is and the onward one carries it on as keep moving would (2 columns left, 1 row down), while
    a wall that did not move stays; the setting needs keep moving."""
    frame, before = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    frame[0, 0, 31:34, 20:23] = 1.0
    before[0, 0, 30:33, 22:25] = 1.0
    frame[0, 1:, 5:15, 5:40] = before[0, 1:, 5:15, 5:40] = 0.6
    h = torch.randn(1, 8)
    balls = {}
    for onward in (False, True):
        torch.manual_seed(0)
        skip = MotionSkip(hidden=8, kernels=1, radius=4, local=True, onward=onward)
        with torch.no_grad():
            skip.choice.weight.zero_()
            skip.choice.bias.view(3, 256).copy_(torch.tensor([30.0, -30.0, -30.0])[:, None])  # "stay" everywhere
        moved, choice = skip(h, frame, before)
        assert choice[:, 0].min().item() > 0.999
        torch.testing.assert_close(moved[0, 1:, 5:15, 5:40], frame[0, 1:, 5:15, 5:40], atol=0.02, rtol=0)
        ball = (moved[0, 0] > 0.5).nonzero()
        balls[onward] = ball.min(dim=0).values.tolist(), ball.max(dim=0).values.tolist()
    assert balls[False] == ([31, 20], [33, 22]) and balls[True] == ([32, 18], [34, 20])
    with pytest.raises(ValueError, match="motion_onward needs gamegan.motion_local"):
        GameGAN(dataclasses.replace(tiny(), skip=True, motion_kernels=1, motion_onward=True), 3, True)
    with pytest.raises(ValueError, match="motion_onward needs the motion skip"):
        GameGAN(dataclasses.replace(tiny(), skip=False, motion_kernels=1, motion_onward=True), 3, True)
    assert stored_config({"gamegan": {}})["motion_onward"] is False  # checkpoints from before it: stay still


def test_the_spatial_state_holds_a_small_ball_where_it_is_and_the_renderer_learns_to_read_it():
    """gamegan.spatial: S_t has a state per 16 x 16 cell. A 2-pixel ball changes S_{-1} in the
    cells around it and hardly anywhere else, and after a step S_t most there (h_t, one vector for the whole frame, changes
    as a whole). The renderer's readings of S_t start at zero, so a fresh model draws as without
    it; one training step makes what it draws depend on S_t."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(tiny(), skip=True, motion_kernels=1, motion_local=True, spatial=4)
    model = GameGAN(cfg, 3, True)
    frames = torch.zeros(2, 3, 64, 64)
    frames[1, :, 10:12, 50:52] = 1.0  # the ball: rows 10-11, columns 50-51, in cell (2, 12)
    start = model.init_state(frames)
    assert start.spatial.shape == start.spatial_cell.shape == (2, 4, 16, 16)
    apart = (start.spatial[0] - start.spatial[1]).abs().amax(dim=0)  # (16, 16)
    far = torch.cat([apart[:, :8].flatten(), apart[8:].flatten()])  # cells 4 or more away from the ball's
    assert apart[2, 12] > 1e-3 and far.max() < 0.1 * apart[2, 12]  # (the norm's statistics are the whole frame's)
    state, out = model.step(start, torch.tensor([1, 1]), torch.zeros(2, cfg.noise_dim))
    apart = (state.spatial[0] - state.spatial[1]).abs().amax(dim=0)
    assert apart[1:4, 11:14].max() > 3 * apart[:, :8].median()

    def drawn(model, state):
        with torch.no_grad():
            return model.renderer(state.h, state.read, state.frame, state.before, state.spatial)["frame"]

    shaken = state._replace(spatial=state.spatial + torch.randn_like(state.spatial))
    torch.testing.assert_close(drawn(model, shaken), drawn(model, state), atol=0, rtol=0)
    trainer = GameGANTrainer(cfg, 3, True, [], torch.device("cpu"))
    trainer.generator.load_state_dict(model.state_dict())
    trainer.reconstruction_step(*moving_square_clips(cfg.batch_size, cfg.clip_len, np.random.default_rng(0), ball=True))
    assert (drawn(trainer.generator, shaken) - drawn(trainer.generator, state)).abs().max() > 1e-6  # was exactly 0
    with pytest.raises(ValueError, match="gamegan.spatial is a number of channels"):
        GameGAN(dataclasses.replace(tiny(), spatial=-1), 3, True)
    assert stored_config({"gamegan": {}})["spatial"] == 0  # checkpoints from before it: none


def test_a_generated_frame_fed_back_is_read_without_a_gradient_unless_asked():
    frames, actions = torch.rand(2, 4, 3, 64, 64), torch.randint(0, 3, (2, 3))
    for detach in (True, False):
        model = GameGAN(dataclasses.replace(tiny(), detach_input=detach), 3, True)
        read = []  # whether each step's frame input carries a gradient back into the model
        model.dynamics.register_forward_pre_hook(lambda _module, args: read.append(args[2].requires_grad))
        model.rollout(frames, actions, warm_up=1)
        assert read == [False, not detach, not detach]  # x_0 is real; then its own frames


def test_two_frames_give_clearly_different_states_at_initialisation():
    """The square at the left or at the right of the frame: the encoded frames are at unit scale
    (layer norm) and the dynamics engine's states after one step differ clearly."""
    torch.manual_seed(0)
    frames = torch.zeros(2, 3, 64, 64)
    frames[0, :, 20:32, 4:16] = 1.0
    frames[1, :, 20:32, 48:60] = 1.0
    model = GameGAN(GameGANConfig(channels=8, hidden=128, noise_dim=4, memory=False, renderer="simple"), 3, True)
    s = model.dynamics.read_frame(frames)
    assert 0.5 < s.abs().mean().item() < 1.5
    state, _ = model.step(model.init_state(frames), torch.tensor([1, 1]), torch.zeros(2, 4))
    assert (state.h[0] - state.h[1]).abs().mean().item() > 5e-3
    first = dataclasses.replace(GameGANConfig(channels=8, hidden=128, noise_dim=4, memory=False, renderer="simple"),
                                encoder_norm=False)
    unnormalised = GameGAN(first, 3, True)
    state, _ = unnormalised.step(unnormalised.init_state(frames), torch.tensor([1, 1]), torch.zeros(2, 4))
    assert (state.h[0] - state.h[1]).abs().mean().item() < 1e-3  # the first form: frames hardly told apart


def test_a_tiny_gamegan_predicts_the_moving_square_better_than_copying_the_frame():
    """The check that would have caught the still picture: the reconstruction warm start on the
    synthetic moving square (benchmarks/gamegan_moving_square.py's tiny generator) must draw the
    square where the action moved it, beating a copy of the frame it read, and draw different
    frames for different inputs."""
    torch.manual_seed(0)
    gc = GameGANConfig(**TINY)
    trainer = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    rng = np.random.default_rng(0)
    for _ in range(MOVING_SQUARE_STEPS):
        trainer.reconstruction_step(*moving_square_clips(gc.batch_size, gc.clip_len, rng))
    held_frames, held_actions = moving_square_clips(32, gc.clip_len, np.random.default_rng(1))
    scores = evaluate_gamegan(trainer.generator, held_frames, held_actions, "cpu")
    assert scores["one_step_mse"] < 0.8 * scores["copy_last_frame_mse"], scores
    with torch.no_grad():
        out = trainer.generator.rollout(torch.as_tensor(held_frames[:2]), torch.as_tensor(held_actions[:2]), gc.clip_len,
                                        noise=torch.zeros(2, gc.clip_len, gc.noise_dim))["frames"]
    assert (out[0] - out[1]).abs().mean().item() > 0.01


MOVING_SQUARE_STEPS = 200


def test_clips_can_be_made_to_end_at_a_death(tmp_path):
    from worldsim.data.clips import ClipPool

    frames = [np.zeros((9, 64, 64, 3), np.uint8), np.zeros((9, 64, 64, 3), np.uint8)]
    for i, episode in enumerate(frames):
        episode[:, 0, 0, 0] = np.arange(9) + 100 * i  # frame t of episode i is marked t + 100 i
    pool = ClipPool(frames, [np.zeros(8, np.int64)] * 2, clip_len=3, ended=np.array([False, True]))
    clips, _ = pool.sample(np.random.default_rng(0), 64, end_bias=1.0)
    assert (clips[:, -1, 0, 0, 0] == 108).all()  # the last frame of the episode the game ended
    clips, _ = pool.sample(np.random.default_rng(0), 256, end_bias=0.5)
    share = (clips[:, -1, 0, 0, 0] == 108).mean()
    assert 0.4 < share < 0.7  # half forced to the end, plus the uniform draws that land there


def test_clips_can_be_made_to_start_where_the_game_begins():
    from worldsim.data.clips import ClipPool

    frames = [np.zeros((9, 64, 64, 3), np.uint8), np.zeros((9, 64, 64, 3), np.uint8)]
    for i, episode in enumerate(frames):
        episode[:, 0, 0, 0] = np.arange(9) + 100 * i  # frame t of episode i is marked t + 100 i
    pool = ClipPool(frames, [np.zeros(8, np.int64)] * 2, clip_len=3, ended=np.array([False, True]))
    first = lambda clips: clips[:, 0, 0, 0, 0] % 100 == 0  # the clip starts at its episode's first frame
    clips, _ = pool.sample(np.random.default_rng(0), 64, start_bias=1.0)
    assert first(clips).all()
    clips, _ = pool.sample(np.random.default_rng(0), 256, end_bias=0.5, start_bias=1.0)
    at_end = clips[:, -1, 0, 0, 0] == 108
    assert 0.4 < at_end.mean() < 0.6 and first(clips[~at_end]).all()  # the clips moved to a death stay there
    clips, _ = pool.sample(np.random.default_rng(0), 512, start_bias=0.5)
    assert 0.5 < first(clips).mean() < 0.7  # half moved to the start, plus the uniform draws (1 in 6) that land there
    with pytest.raises(ValueError, match="start_bias"):
        GameGANTrainer(GameGANConfig(start_bias=1.5), 2, True, [], torch.device("cpu"))


def test_checkpoints_from_before_a_field_existed_load_with_the_value_they_were_trained_with():
    stored = stored_config({"gamegan": {"hidden": 32}})
    assert stored["output"] == "sigmoid" and stored["encoder_norm"] is False
    assert stored["kernel_temperature"] == 1.0 and stored["spectral_norm"] is False and stored["hidden"] == 32


def test_discriminators_are_spectrally_normalised_unless_turned_off():
    sn = Discriminators(action_dim=3, noise_dim=4, channels=4, temporal_scales=2)
    plain = Discriminators(action_dim=3, noise_dim=4, channels=4, temporal_scales=2, spectral_norm=False)
    layers = [m for m in sn.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in plain.modules())


def test_discriminators_with_a_background_gain_judge_the_foreground_against_the_generators_background():
    torch.manual_seed(0)
    frames, actions = fixed_batch()
    real = torch.as_tensor(frames).permute(0, 1, 4, 2, 3).float() / 255
    with pytest.raises(ValueError, match="needs gamegan.background_gain"):
        GameGANTrainer(dataclasses.replace(tiny(), d_background_gain=4.0), 3, True, [], torch.device("cpu"))
    gc = dataclasses.replace(tiny(), clip_len=3, warm_up=3, background_gain=4.0, d_background_gain=4.0)
    trainer = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    backdrop = real[:1, 0].clone()
    backdrop[..., 20:30, :] = 0  # the floor without the moving blob
    trainer.set_background(backdrop)
    ds = trainer.discriminators
    for judge in (ds.frame, ds.action, ds.temporal):
        assert torch.equal(judge.background, backdrop)
    # They judge what differs from the backdrop: the blob over another floor, with that floor as
    # the backdrop, is judged exactly as before; the backdrop alone reads as zeros.
    frame = real[:1, 1]
    ds.eval()  # spectral norm's power iteration moves the weights at every call in training mode
    logit = ds.frame(frame)[0]
    assert not torch.allclose(ds.frame(backdrop)[0], logit)
    assert torch.count_nonzero(ds.frame.reads(backdrop)) == 0
    repainted, other_backdrop = frame.clone(), backdrop.clone()
    for x in (repainted, other_backdrop):
        x[:, 1, 40:] = 0.8
    trainer.set_background(other_backdrop)
    assert torch.allclose(ds.frame(repainted)[0], logit, atol=1e-6)
    trainer.set_background(backdrop)
    # Not saved with the weights; a resumed trainer takes it from the generator's checkpointed background.
    assert not any("background" in k and k.startswith("discriminators.") for k in trainer.model_dict())
    resumed = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    resumed.load(trainer.model_dict(), trainer.state_dict())
    assert torch.equal(resumed.discriminators.temporal.background, backdrop)
    assert np.isfinite(resumed.train_step(frames, actions, warm_up=2)["d_loss"])
    # Without the gain the discriminators read the frame as before, to [-1, 1].
    plain = GameGANTrainer(dataclasses.replace(gc, d_background_gain=0.0), 3, True, [], torch.device("cpu"))
    assert torch.equal(plain.discriminators.frame.reads(real[:1, 1]), real[:1, 1] * 2 - 1)


def test_a_patch_discriminator_judges_each_cell_where_it_looks_and_can_be_added_on_resume():
    """gamegan.patch_weight: the frame discriminator's 16 x 16 cells each judge the 10 x 10 pixels
    they see; the patch_cells where generated and real frames differ most train on their own hinge
    loss and weigh patch_weight in G's loss; a run trained without them may be resumed with them."""
    torch.manual_seed(0)
    frames, actions = fixed_batch()
    gc = dataclasses.replace(tiny(), clip_len=3, warm_up=3, patch_weight=2.0)
    trainer = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    frame = trainer.discriminators.frame
    frame.eval()
    x = torch.rand(1, 3, 64, 64)
    cells = frame.patches(frame(x)[1])
    assert cells.shape == (1, 256)
    y = x.clone()
    y[..., 40, 40] = 1 - y[..., 40, 40]  # one pixel: cell i sees pixels 4i-3 .. 4i+6, so cells 9 and 10
    changed = (frame.patches(frame(y)[1]) != cells).view(16, 16)
    assert changed.any() and not changed[[i for i in range(16) if i not in (9, 10)]].any()
    assert not changed[:, [i for i in range(16) if i not in (9, 10)]].any()
    frame.train()

    # It judges the cells where a generated frame differs most from its real counterpart.
    other = x.clone()
    other[..., 20:24, 28:32] = 1 - other[..., 20:24, 28:32]  # cell (5, 7)'s own 4 x 4 pixels
    other[..., 0:2, 0:2] = 1 - other[..., 0:2, 0:2]  # a smaller change in cell (0, 0)
    assert differing_cells(x, other, 2).tolist() == [[5 * 16 + 7, 0]]
    assert differing_cells(x, other, 0).tolist() == [list(range(256))]
    with pytest.raises(ValueError, match="patch_cells"):
        Discriminators(action_dim=3, noise_dim=4, channels=4, patches=True, patch_cells=300)

    parts = trainer.train_step(frames, actions, warm_up=2)
    assert np.isfinite(parts["d_patch"]) and np.isfinite(parts["g_patch"])
    real = torch.as_tensor(frames).permute(0, 1, 4, 2, 3).float() / 255
    a = torch.as_tensor(actions)
    trainer.discriminators.eval()  # no power iteration between the two calls
    with torch.no_grad():
        out = trainer.generator.rollout(real, a, 2)
        totals = [generator_loss(trainer.discriminators, real, a, trainer.generator.encode_actions(a), out,
                                 dataclasses.replace(gc, patch_weight=w), True) for w in (2.0, 0.0)]
    assert totals[0][0] - totals[1][0] == pytest.approx(2.0 * totals[0][1]["g_patch"], rel=1e-4, abs=1e-5)
    trainer.discriminators.train()

    plain = GameGANTrainer(dataclasses.replace(gc, patch_weight=0.0), 3, True, [], torch.device("cpu"))
    plain.train_step(frames, actions, warm_up=2)
    resumed = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    resumed.load(plain.model_dict(), plain.state_dict())  # the head starts fresh, the rest as trained
    assert torch.equal(resumed.discriminators.frame.head.parametrizations.weight.original,
                       plain.discriminators.frame.head.parametrizations.weight.original)
    assert np.isfinite(resumed.train_step(frames, actions, warm_up=2)["d_patch"])
    with pytest.raises(RuntimeError, match="not taken away"):
        plain.load(resumed.model_dict(), resumed.state_dict())


def test_scoring_the_drawing_teaches_the_renderer_what_the_copy_skip_keeps():
    """gamegan.drawn_weight: with a copy skip that keeps (nearly) every pixel, the frame's error
    sends the renderer's drawing almost no gradient, so the drawing never learns the object the
    skip carries; scored on its own too, it does. The term's weight is recon_weight x
    drawn_weight, and without the copy skip there is no drawing to score."""
    frames, actions = fixed_batch()
    real = torch.as_tensor(frames).permute(0, 1, 4, 2, 3).float() / 255
    drawn_error = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        gc = dataclasses.replace(tiny(), clip_len=3, warm_up=3, recon_only_lr=3e-3, drawn_weight=weight)
        trainer = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
        with torch.no_grad():
            trainer.generator.renderer.keep.logits.bias.fill_(12.0)  # keep ~ 1 - 6e-6 everywhere
        trainer.generator.renderer.keep.requires_grad_(False)
        first = trainer.reconstruction_step(frames, actions)
        if weight:
            assert first["g_loss"] == pytest.approx(gc.recon_weight * (first["recon"] + weight * first["recon_drawn"]),
                                                    rel=1e-4)
        else:
            assert "recon_drawn" not in first and first["g_loss"] == pytest.approx(gc.recon_weight * first["recon"])
        for _ in range(40):
            trainer.reconstruction_step(frames, actions)
        with torch.no_grad():
            out = trainer.generator.rollout(real, torch.as_tensor(actions), 3, torch.zeros(2, 3, gc.noise_dim))
        drawn_error[weight] = reconstruction_loss(out["drawn"], real[:, 1:], "l2").item()
        # the frame itself is the frame read, kept: nothing the drawing learned shows in it
        assert reconstruction_loss(out["frames"], real[:, :-1], "l2").item() < 0.05
    assert drawn_error[1.0] < 0.2 * drawn_error[0.0], drawn_error

    with pytest.raises(ValueError, match="skip"):
        GameGANTrainer(dataclasses.replace(tiny(), clip_len=3, skip=False, drawn_weight=1.0), 3, True, [],
                       torch.device("cpu"))  # refused when the model is built, before any step


def test_the_inward_clamp_lets_a_drawing_gone_black_below_zero_learn_to_draw_again():
    """gamegan.clamp_inward: the linear output's clamp passes no gradient where the value is below
    0, so a renderer that learned to draw a place black that way can never draw there again; with
    the gradient passed where it points back into [0, 1] (never further out) it learns the bright
    square. The forward pass is the plain clamp's either way."""
    x = torch.tensor([-1.0, 0.5, 2.0])
    for inward, up, down in ((False, [0, -1, 0], [0, 1, 0]), (True, [-1, -1, 0], [0, 1, 1])):
        for sign, expected in ((-1, up), (1, down)):  # a loss that pushes every pixel up, then down
            v = x.clone().requires_grad_(True)
            out = to_pixels(v, "linear", inward)
            torch.testing.assert_close(out, x.clamp(0, 1))
            (sign * out).sum().backward()
            assert v.grad.tolist() == expected, (inward, sign)

    target = torch.zeros(2, 3, 64, 64)
    target[:, :, 30:36, 20:26] = 0.8  # a bright square on black
    drawn = {}
    for inward in (False, True):
        torch.manual_seed(0)
        renderer = SimpleRenderer(8, channels=4, inward=inward)
        with torch.no_grad():
            renderer.out.bias.fill_(-1.0)  # every pixel drawn black below the clamp
        opt = torch.optim.Adam(renderer.parameters(), lr=1e-2)
        h = torch.randn(2, 8)
        for _ in range(60):
            opt.zero_grad()
            (renderer(h)["frame"] - target).pow(2).sum().backward()
            opt.step()
        with torch.no_grad():
            frame = renderer(h)["frame"]
        drawn[inward] = frame[:, :, 30:36, 20:26].mean().item()
        assert frame[:, :, :20].abs().max().item() < 0.05  # the black stays black
    assert drawn[False] == 0.0 and drawn[True] > 0.5, drawn

    with pytest.raises(ValueError, match="linear"):
        GameGAN(dataclasses.replace(tiny(), output="sigmoid", clamp_inward=True), 3, True)  # refused when built


def fixed_batch(batch: int = 2, steps: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth moving blob over a dark floor: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((batch, steps + 1, 64, 64, 3), dtype=np.uint8)
    frames[..., 40:, :, 1] = 90
    for b in range(batch):
        for t in range(steps + 1):
            x = 10 + 6 * t + 8 * b
            frames[b, t, 20:30, x : x + 10] = (220, 60, 40)
    return frames, rng.integers(0, 3, (batch, steps))


def test_training_steps_lower_fixed_batch_losses():
    torch.manual_seed(0)
    gc = dataclasses.replace(tiny(), clip_len=3, warm_up=3, lr=1e-3, r1_every=1, recon_weight=1.0, skip=False)
    trainer = GameGANTrainer(gc, 3, True, [(0, 2)], torch.device("cpu"))
    frames, actions = fixed_batch()
    recon = [trainer.train_step(frames, actions, warm_up=3)["recon"] for _ in range(30)]
    assert np.mean(recon[-3:]) < 0.5 * recon[0], recon

    ds = Discriminators(action_dim=3, noise_dim=gc.noise_dim, channels=4, temporal_scales=2)
    optimizer = torch.optim.Adam(ds.parameters(), lr=1e-3, betas=(0.0, 0.9))
    real = torch.as_tensor(frames).permute(0, 1, 4, 2, 3).float() / 255
    fake = torch.rand(2, 3, 3, 64, 64)
    a = torch.as_tensor(actions)
    encoded = torch.eye(3)[a]
    noise = torch.randn(2, 3, gc.noise_dim)
    wrong = torch.eye(3)[wrong_actions(a, 3, True)]
    losses = []
    for _ in range(6):
        loss, _ = discriminator_loss(ds(real, fake, real[:, :-1], encoded, wrong, r1=True), a, noise, gc, True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_wrong_actions_never_match_the_taken_ones():
    a = torch.randint(0, 3, (50, 7))
    assert (wrong_actions(a, 3, True) != a).all()


@pytest.fixture(scope="module")
def tiny_doom_run(tmp_path_factory):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    run = RunDir(tmp_path_factory.mktemp("gamegan_run"))
    cfg = resolve(make_config("Doom/TakeCover", "smoke"), envs.info("Doom"))
    run.open(cfg)
    collect(cfg.env, run.episodes, 3, workers=1, max_steps=40, progress=False)
    return run, cfg


def test_training_runs_and_resumes_where_it_stopped(tiny_doom_run):
    run, cfg = tiny_doom_run
    cfg = copy.deepcopy(cfg)
    cfg.gamegan.steps = 4
    first = train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    cfg.gamegan.steps = 6
    report = train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    logged = [r for r in read_scalars(run.logs / "gamegan.jsonl") if "g_loss" in r]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    # the smoke preset's 2 reconstruction-only warm-start steps, then adversarial ones
    assert [r["step"] for r in logged if "d_loss" in r] == [3, 4, 5, 6] and cfg.gamegan.recon_only_steps == 2
    for metrics in (first, report):
        assert np.isfinite([metrics["d_loss"], metrics["g_loss"], metrics["val_one_step_mse"],
                            metrics["val_open_loop_mse"], metrics["steps_per_second"]]).all()
    assert (run.root / report["samples"]).stat().st_size > 1000
    model, meta = load_gamegan(run.gamegan_checkpoint(), env=cfg.env)
    assert meta["flip_pairs"] == [[0, 2]] and meta["history"]["latest"]["step"] == 6

    cfg.gamegan.hidden *= 2
    with pytest.raises(CheckpointError, match="gamegan.hidden=32"):
        train_gamegan(run, cfg, torch.device("cpu"), progress=False)


def test_a_completed_gamegan_trains_on_when_more_steps_are_asked(tiny_doom_run, capsys):
    """A finished GameGAN stage is skipped, unless --gamegan.steps now asks for more than it ran:
    then it resumes from its checkpoint and trains only the steps it had not."""
    from worldsim.apps.pipeline import run_stage
    run, cfg = tiny_doom_run
    cfg = copy.deepcopy(cfg)
    cfg.gamegan.name, cfg.gamegan.steps, cfg.gamegan.eval_every = "gamegan_more", 2, 1
    run_stage("gamegan", run, cfg, torch.device("cpu"), progress=False)
    cfg.gamegan.steps = 3
    run_stage("gamegan", run, cfg, torch.device("cpu"), progress=False)
    run_stage("gamegan", run, cfg, torch.device("cpu"), progress=False)  # nothing more asked
    assert "[gamegan_more] already complete, skipped" in capsys.readouterr().out
    logged = [r["step"] for r in read_scalars(run.logs / "gamegan_more.jsonl") if "g_loss" in r]
    assert logged == [1, 2, 3]
    _, meta = load_gamegan(run.gamegan_checkpoint("gamegan_more"), env=cfg.env)
    assert meta["history"]["latest"]["step"] == 3 and run.stage("gamegan_more")["status"] == "complete"


def test_a_gamegan_that_reads_the_foreground_trains_and_keeps_its_background(tiny_doom_run):
    """gamegan.background_gain: training sets the median training frame as the background, the
    checkpoint keeps it, and the encoder reads a frame equal to it as it reads black; the motion
    skip, the change weight and discriminators that read the foreground train alongside, and
    benchmarks/gamegan_discriminators.py trains fresh discriminators against the result."""
    from worldsim.data.frames import BACKGROUND_FRAMES, background_frame
    from worldsim.data.episodes import list_episodes, split_episodes
    run, cfg = tiny_doom_run
    cfg = copy.deepcopy(cfg)
    cfg.gamegan.name, cfg.gamegan.steps = "gamegan_foreground", 2
    cfg.gamegan.background_gain, cfg.gamegan.motion_kernels, cfg.gamegan.change_weight = 4.0, 2, 5.0
    cfg.gamegan.d_background_gain, cfg.gamegan.recon_only_steps = 4.0, 1  # one adversarial step
    report = train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    assert np.isfinite(report["val_one_step_mse"])
    model, meta = load_gamegan(run.gamegan_checkpoint("gamegan_foreground"), env=cfg.env)
    train, _ = split_episodes(list_episodes(run.episodes), cfg.gamegan.val_fraction, cfg.seed)
    expected = background_frame(train, BACKGROUND_FRAMES, np.random.default_rng(cfg.seed))
    torch.testing.assert_close(model.dynamics.background[0], torch.as_tensor(expected).permute(2, 0, 1).float() / 255)
    with torch.no_grad():
        torch.testing.assert_close(model.dynamics.read_frame(model.dynamics.background),
                                   model.dynamics.norm(model.dynamics.encode(torch.zeros(1, 3, 64, 64))))
    assert meta["gamegan"]["motion_kernels"] == 2 and model.renderer.motion is not None
    cfg.gamegan.steps = 3  # resumed: the background comes back from the checkpoint
    train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    resumed, meta = load_gamegan(run.gamegan_checkpoint("gamegan_foreground"), env=cfg.env)
    assert meta["history"]["latest"]["step"] == 3
    torch.testing.assert_close(resumed.dynamics.background, model.dynamics.background)
    with pytest.raises(ValueError, match="no background"):
        GameGAN(tiny(), 3, True).dynamics.set_background(torch.zeros(1, 3, 64, 64))

    from conftest import run_script
    probe = ["benchmarks/gamegan_discriminators.py", "--run-dir", str(run.root), "--model", "gamegan_foreground",
             "--steps", "2", "--eval-every", "1", "--pool", "1", "--clips", "2"]
    proc = run_script(*probe, "--variant", "r1_gamma=0.1", "--variant", "r1_gamma=0,d_background_gain=0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("accuracy: frame") == 6 and "r1_gamma 0.0, d_background_gain 0.0:" in proc.stdout
    # The patch head, and what the frame discriminator makes of real frames with an object painted over.
    seen_colour = tuple(int(c) for c in model.dynamics.background[0, :, 32, 32].mul(255).round())
    proc = run_script(*probe, "--variant", "patch_weight=1",
                      "--erase", "floor:{},{},{}@0-63,0-63".format(*seen_colour))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("patch cells summed: real") == 3 and "held-out real frames show it" in proc.stdout
    refused = run_script(*probe, "--variant", "hidden=3")
    assert refused.returncode == 2 and "not a discriminator setting" in refused.stderr


def test_saved_gamegan_reloads_bit_identically(tiny_doom_run, tmp_path):
    from worldsim.checkpoint import save_checkpoint

    torch.manual_seed(1)
    trainer = GameGANTrainer(tiny(), 3, True, [(0, 2)], torch.device("cpu"))
    frames, actions = fixed_batch(steps=6)
    trainer.train_step(frames, actions, warm_up=2)  # weights and optimizer state off their initial values
    path = tmp_path / "gamegan.pt"
    meta = {"gamegan": dataclasses.asdict(trainer.gc), "action_dim": 3, "discrete_actions": True,
            "flip_pairs": [[0, 2]]}
    save_checkpoint(path, kind="gamegan", env="Doom/TakeCover", model=trainer.model_dict(), meta=meta,
                    state=trainer.state_dict())
    loaded, _ = load_gamegan(path, env="Doom/TakeCover")
    noise = torch.randn(2, 6, trainer.gc.noise_dim)
    trainer.generator.eval()
    with torch.no_grad():
        a = trainer.generator.rollout(frames, torch.as_tensor(actions), 2, noise)
        b = loaded.rollout(frames, torch.as_tensor(actions), 2, noise)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CheckpointError, match="expected 'vae'"):
        from worldsim.models.vae import load_vae

        load_vae(path)


@pytest.mark.slow
def test_script_trains_a_new_run_with_overrides(tiny_doom_run, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    from worldsim.io import read_json

    source, _ = tiny_doom_run
    root = tmp_path / "run"
    root.mkdir()
    (root / "episodes").symlink_to(source.episodes, target_is_directory=True)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "train_gamegan.py"), "--env", "Doom", "--preset", "smoke",
         "--run-dir", str(root), "--gamegan.steps", "2", "--gamegan.renderer", "simple", "--no-progress"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stage = read_json(root / "report.json")["stages"]["gamegan"]
    assert stage["status"] == "complete" and stage["val_open_loop_mse"] > 0
    assert read_json(root / "config.json")["gamegan"]["renderer"] == "simple"


@pytest.mark.slow
def test_two_processes_under_torchrun_train_together_and_record_once(doom_run, tmp_path):
    """DistributedDataParallel on CPU (gloo): the same script a GPU user starts with torchrun."""
    import subprocess
    import sys

    from conftest import ROOT, run_script
    from worldsim.io import read_json

    source, _ = doom_run
    fork = tmp_path / "ddp"
    assert run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share").returncode == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           os.path.join(ROOT, "scripts", "train_gamegan.py"), "--run-dir", str(fork), "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    stage = read_json(fork / "report.json")["stages"].get("gamegan", {})
    # Rarely (once in 8 runs in one session) a worker aborts in gloo's C++ teardown after destroy_process_group,
    # with the stage already complete (pytorch/pytorch#190489, #179291); only that abort is let
    # through, and the checks below still require a finished, once-recorded training.
    teardown_abort = "terminate called without an active exception" in proc.stderr and stage.get("status") == "complete"
    assert proc.returncode == 0 or teardown_abort, proc.stderr[-3000:]
    assert stage["status"] == "complete" and stage["train_episodes"] >= 2
    model, meta = load_gamegan(RunDir(fork).gamegan_checkpoint(), env="Doom/TakeCover")
    assert meta["history"]["latest"]["step"] == meta["gamegan"]["steps"]


def test_the_copy_skip_keeps_a_learned_share_of_the_frame_read():
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 64, 64)
    model = GameGAN(dataclasses.replace(tiny(), skip=True), 3, True)
    _, out = model.step(model.init_state(frames), torch.tensor([0, 2]), torch.zeros(2, tiny().noise_dim))
    keep = out["keep"]
    assert keep.shape == (2, 1, 64, 64) and 0.85 < keep.mean().item() < 0.9  # starts near copying
    torch.testing.assert_close(out["frame"], keep * frames + (1 - keep) * out["drawn"])
    plain = GameGAN(dataclasses.replace(tiny(), skip=False), 3, True)
    assert "keep" not in plain.step(plain.init_state(frames), torch.tensor([0, 2]))[1]


def test_the_sharp_copy_skip_keeps_all_or_nothing_and_still_learns():
    """gamegan.keep_sharp: the share is 0 or 1 per pixel, where the soft one would be above or
    below a half; the soft share's gradient still reaches the mask's weights."""
    torch.manual_seed(0)
    h = torch.randn(2, 8)
    soft, sharp = KeepMask(8), KeepMask(8, sharp=True)
    with torch.no_grad():
        soft.logits.weight.normal_()
    sharp.load_state_dict(soft.state_dict())
    keep = sharp(h)
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(keep, (soft(h) > 0.5).float())
    keep.sum().backward()
    assert sharp.logits.weight.grad.abs().sum().item() > 0
    model = GameGAN(dataclasses.replace(tiny(), skip=True, keep_sharp=True), 3, True)
    frames = torch.rand(2, 3, 64, 64)
    out = model.step(model.init_state(frames), torch.tensor([0, 2]), torch.zeros(2, tiny().noise_dim))[1]
    assert set(out["keep"].unique().tolist()) <= {0.0, 1.0}
    assert stored_config({"gamegan": {}})["keep_sharp"] is False  # checkpoints from before it: soft
