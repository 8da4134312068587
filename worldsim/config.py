"""Typed configuration for every stage, its presets (`smoke`, `default`, `paper`) and the
command-line overrides. A run directory stores the full config it used as config.json."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envs import GameInfo

PRESETS = ("smoke", "default", "paper")


@dataclass
class CollectConfig:
    episodes: int = 0
    """number of real-game episodes to record (0: the preset's value for the game)"""
    workers: int = 0
    """parallel game processes (0: one per CPU core)"""
    max_steps: int = 0
    """cap on steps per recorded episode (0: the game's own cap)"""
    policy: str = ""
    """exploration policy ('': the game's own: CarRacing 'road', which steers toward the road
    with drifting noise and leaves it now and then; Breakout 'follow', stretches that move the
    paddle toward the ball, each aimed with its own error of up to a few pixels, between held random
    actions; Doom and other Atari games 'held', uniform random actions held for a few steps).
    CarRacing also has 'drift', the steering random walk alone (its default until the road
    follower); Breakout 'follow-exact', 'follow' without the aim error (its default until session
    24), and 'held'"""


@dataclass
class VAEConfig:
    z_dim: int = 0
    """latent size (0: the paper's value for the game: 32 CarRacing, 64 Doom, 32 Atari)"""
    channels: int = 32
    """width of the first conv layer; the paper's encoder is 32/64/128/256"""
    epochs: int = 0
    """passes over the training frames (0: the game's value: 1 for CarRacing and for Doom, whose
    ~250k frames in the default preset are enough; 2 for Atari, whose V needs ~5,000 steps before z
    holds the paddles, docs/RESULTS.md)"""
    batch_size: int = 100
    """frames per step (paper: 100)"""
    lr: float = 1e-4
    """Adam learning rate (paper: 1e-4)"""
    kl_tolerance: float = 0.5
    """free-bits floor: KL below kl_tolerance * z_dim nats is not penalised (paper: 0.5)"""
    kl_weight: float = 1.0
    """factor on the (floored) KL term in V's loss (paper: 1)"""
    foreground_weight: float = 1.0
    """factor on the squared error of foreground pixels in V's loss, those whose RGB differ from the
    training frames' median by more than 30 levels in sum (a fixed-camera game's paddles, ball and
    bullets: ~1 % of an Atari frame, which the summed error otherwise lets V erase); 1: the paper's
    loss, every pixel alike"""
    background_gain: float = 0.0
    """0: V's encoder reads the frame (the paper). > 0: it reads (frame - the training frames'
    median) times this, on [0, 1] pixels, so a fixed-camera game's backdrop encodes as zeros and its
    small objects are what the encoder sees from the first step (the median is saved with V)"""
    keypoints: int = 0
    """0: the paper's V. K > 0: z's first 2K entries are K image positions (x, y in [-1, 1]), each
    read by a spatial softmax and drawn back as a blob, so a small object's position is a coordinate
    of z that a linear C or probe reads directly (at most z_dim / 2; needs background_gain > 0)"""
    val_fraction: float = 0.05
    """share of episodes held out for validation"""
    buffer_episodes: int = 32
    """episodes loaded at once into the shuffle buffer (bounds memory)"""


@dataclass
class MDNRNNConfig:
    hidden: int = 0
    """LSTM size (0: the paper's value: 256 CarRacing/Atari, 512 Doom)"""
    gaussians: int = 5
    """mixture components per latent dimension (paper: 5), or of the joint mixture"""
    mixture: str = "per_dim"
    """how p(z_{t+1}) is mixed: 'per_dim', the paper's, a mixture of `gaussians` components for
    each latent dimension, with its own weights, drawn apart from the others; 'joint', one
    mixture of `gaussians` diagonal Gaussians over the whole z, one component drawn for all
    dimensions (the form some reimplementations train; on Pong it kept the ball no longer,
    docs/RESULTS.md). NLL is reported in nats per latent dimension either way"""
    seq_len: int = 100
    """training sequence length (paper: 999 CarRacing, 500 Doom)"""
    windows: str = "random"
    """where training sequences start: 'random' anywhere in an episode, M's LSTM starting from a
    zero state mid-episode; 'episode' at an episode's first frame, as every dream episode does,
    so M can learn how the game changes over an episode's first seq_len steps (the paper's code
    trains its Doom M on 1,000-step sequences, resetting the LSTM at each episode start)"""
    batch_size: int = 32
    """sequences per step (paper: 100)"""
    lr: float = 1e-3
    """Adam learning rate (paper: 1e-3)"""
    steps: int = 0
    """optimisation steps (0: the preset's value for the game: 10,000 Doom, 5,000 others)"""
    grad_clip: float = 1.0
    """gradient norm clip (paper: 1.0)"""
    done_pos_weight: float = 10.0
    """weight of positive (episode-ending) steps in the done loss (paper's Doom model: 10)"""
    reward: str = ""
    """how M predicts the step's reward (ignored for survival-reward games): 'regression', the
    squared error of the value (CarRacing's per-tile reward); or 'classes', a cross-entropy over
    the few distinct values the training episodes pay (Atari's points, e.g. Pong's -1, 0, +1), of
    which the dream draws one, so it pays whole points as the game does; '': the game's choice
    (classes for Atari, regression elsewhere)"""
    score_scale: float = 0.0
    """0: M reads (z_t, a_t), as in the paper. Else M also reads the episode's score so far, the
    points won and the points lost before each step (each >= 0), divided by this many points
    (Pong: 21, the score that ends a game), and its done head reads only that score and the
    reward head's odds, not h (which holds V's picture of the score, redrawn at every dream
    step). The dream counts the points it pays, the real-game controller those the game pays.
    For a game that ends at a score (docs/RESULTS.md, "Pong: an M that counts the points")"""
    reward_weight: float = 1.0
    """weight of the reward loss (squared error, or cross-entropy in nats, per step) in M's loss"""
    val_fraction: float = 0.05
    """share of episodes held out for validation"""
    eval_every: int = 500
    """steps between held-out evaluations and checkpoints"""
    dropout: float = 0.0
    """variational dropout on the LSTM's inputs and recurrent state while training M, one mask
    per sequence (what controller.dream_dropout needs M to have seen; Dropout's Dream Land: 0.05).
    The LSTM then runs step by step, slower than nn.LSTM's fused loop; 0: off"""
    own_draws: float = 0.0
    """share of M's input steps that are M's own draw instead of V's encoding while training
    (scheduled sampling, Bengio et al. 2015): before each batch M runs through the window
    without gradients, and each step after the first is, with this probability, fed the z it
    drew (temperature 1) from its prediction at the step before, else V's; runs of its own
    draws last 1 / (1 - own_draws) steps on average. The targets stay V's next z, reward and
    done. So M learns to continue from the kind of z its dream feeds it. 0: off (the paper's
    teacher forcing); the draws run M step by step, slower to train"""
    own_draws_heads: str = "z"
    """which of M's heads learn from the pass that reads its own draws (mdnrnn.own_draws > 0):
    'z', the z mixture only, while reward and done learn from a second pass over the same window
    that reads V's z throughout, so M is not taught to pay a recorded point after inputs whose
    picture may not call for it; or 'all', every head (session 38's form). On Pong, 'z' gave Cs the
    game paid 4.1 points more over two seeds (docs/RESULTS.md, "Pong: M's own draws for the
    picture only")"""


@dataclass
class ControllerConfig:
    world: str = "dream"
    """where CMA-ES plays the candidates: dream, inside the world model's dream (the paper's Doom
    recipe); or real, in the real game, V and M tracking [z, h] (the paper's CarRacing recipe:
    far slower, game processes across the cores, evaluate.workers of them)"""
    init: str = ""
    """a controller checkpoint whose parameters the search starts from (the CMA-ES mean), e.g. the
    dream-trained checkpoints/controller.pt to fine-tune it in the real game; '': zeros (the paper)"""
    population: int = 64
    """CMA-ES population (paper: 64)"""
    rollouts: int = 16
    """dream episodes per candidate, averaged into its fitness (paper: 16)"""
    sigma0: float = 0.1
    """CMA-ES initial step size (paper: 0.1)"""
    generations: int = 0
    """CMA-ES generations (each iterate round trains C again for as many; 0: the game's value: 30,
    the paper's Doom recipe; Atari Breakout 100, where Cs on the erring follower's data scored 7.4
    a game after 30 and 8.3 after 100, four seeds' mean; 12.6 on another training of V and M,
    docs/RESULTS.md)"""
    temperature: float = 1.15
    """dream temperature tau during training (paper's best for Doom: 1.15)"""
    eval_every: int = 10
    """generations between evaluations of the generation's best candidate"""
    eval_episodes: int = 256
    """dream episodes in each of those evaluations (paper: 1024)"""
    max_steps: int = 0
    """dream episode cap (0: the real game's cap)"""
    dream_dtype: str = "float32"
    """dtype of M's matmuls in the dream: float32, or bfloat16 (faster on AVX512-BF16 CPUs and GPUs)"""
    dream_compile: bool = True
    """fuse M's dream step, sampling included, with torch.compile (compiled once per process, ~20 s
    on a CPU; where compilation fails the dream warns and runs eagerly)"""
    inputs: str = "zh"
    """what C reads: zh, the paper's [z, h]; zch, [z, c, h] with M's LSTM cell state c too (a
    mode of the paper's reference code); or z, V's z alone (the paper's "V model only" ablation:
    z_dim + 1 parameters per action output instead of z_dim + hidden + 1, a search CMA-ES
    covers in far fewer generations)"""
    hidden: int = 0
    """tanh units of a hidden layer in C (a = f(W2 tanh(W1 [z, h] + b1) + b2)); 0: the paper's
    linear C. Pong's ball follower's choice is in V's z but not linearly: a linear map on z
    matches it on 53 % of held-out frames, one through 16 hidden units on 82 %; yet in Pong's
    dream C on z through 16 units was paid -17.26 after 100 generations, the linear C -16.31
    (docs/RESULTS.md, "Pong: what following the ball is worth")"""
    dream_done: str = "sample"
    """how the dream ends episodes from M's done head: sample, end with the probability M gives
    (its odds divided by mdnrnn.done_pos_weight); or threshold, end when that probability exceeds
    1 / (1 + done_pos_weight), i.e. the weighted logit crosses 0, as the paper's reference code
    (doomrnn.py) does"""
    step_bonus: float = 0.0
    """points a dream candidate's fitness gains per step its episode lasted (training in the dream
    only; the kept controller is still chosen by the game's points alone). Pong pays every C that
    cannot yet win a point the same -21, so CMA-ES from zero has no slope to climb; each ball C
    returns lengthens the episode (dream: 907 steps for the zero C, 2,997 for a C that follows
    the ball, docs/RESULTS.md). 0: the points alone (the paper)"""
    dream_dropout: float = 0.0
    """each dream episode draws its own dropout mask over M's LSTM inputs and recurrent state,
    kept for the episode, so C meets many slightly different worlds and cannot exploit one
    model's quirks (Dropout's Dream Land, Wellmer & Kwok 2021: best on Doom at 0.1 with M trained
    at mdnrnn.dropout 0.05); 0: the plain M"""


@dataclass
class IterateConfig:
    rounds: int = -1
    """rounds of the paper's iterative training after the first controller: record its real play,
    train M further, train C again (-1: the game's default, 0 for every game: rounds did not
    improve transfer with the 512-unit Doom M, docs/RESULTS.md)"""
    episodes: int = 300
    """real episodes each round records with the current controller"""
    epsilon: float = 0.3
    """share of those steps played by the exploration policy instead of the controller"""
    mdnrnn_steps: int = 2500
    """extra training steps for M in each round"""


@dataclass
class EvaluateConfig:
    episodes: int = 100
    """real-game (and dream) episodes to evaluate the trained controller on"""
    seed: int = 1
    """seed of the evaluation's game seeds (drawn from a stream that collection never uses)"""
    workers: int = 0
    """parallel game processes (0: one per CPU core)"""
    max_steps: int = 0
    """cap on steps per evaluation episode (0: the game's own cap)"""


@dataclass
class GameGANConfig:
    channels: int = 16
    """generator width: the frame encoder and renderer layers are multiples of it"""
    d_channels: int = 16
    """discriminator width: first conv layer of each of the three discriminators"""
    hidden: int = 256
    """dynamics engine LSTM size (the simulated game state h_t)"""
    noise_dim: int = 32
    """size of the per-step noise z_t ~ N(0, I) that carries the game's randomness"""
    action_embed: int = 32
    """size of the learned action embedding read by H(a_t, z_t, m_{t-1})"""
    memory: bool = True
    """use the memory module (a block addressed by an attention map the actions move)"""
    memory_height: int = 11
    """memory block rows (paper: 21)"""
    memory_width: int = 11
    """memory block columns (paper: 21)"""
    memory_dim: int = 64
    """features per memory cell (paper: 512)"""
    flip_pairs: str = "auto"
    """opposite actions sharing mirrored shift kernels, as 'i:j,k:l'; 'auto': the game's own (Doom TakeCover 0:2); 'none'"""
    renderer: str = "specialized"
    """rendering engine: simple (one deconv stack) or specialized (static + dynamic components with masks)"""
    components: int = 2
    """specialized renderer components K: one static (from memory) and K-1 dynamic (paper: 2)"""
    type_dim: int = 32
    """size of each component's type vector v^k"""
    attribute_dim: int = 16
    """channels of each component's attribute map A^k"""
    map_size: int = 16
    """side of the object/attribute maps and rough sketches (4, 8, 16 or 32)"""
    encoder_norm: bool = True
    """layer-normalise the encoded frame s_t before the dynamics engine's gates read it (without
    it, s_t starts ~100x too small to tell frames apart and can grow until the gates saturate)"""
    skip: bool = True
    """the copy skip, our addition to the paper's form (false: the paper's, as --preset paper):
    the next frame keeps a learned per-pixel share of the frame the step read and draws the rest,
    x_{t+1} = keep * x_t + (1 - keep) * drawn. At one frame per game tic consecutive Doom frames
    differ by an MSE of ~8e-5; drawn from the state alone, the paper's form stalled with its
    one-step error equal to its open-loop error (it ignored the frame), where the skip's one-step
    error fell to between a seventh (step 500) and a third (step 3,000) of its open-loop one over
    12-step clips (docs/RESULTS.md)"""
    background_gain: float = 0.0
    """> 0: the frame encoder reads (x_t - background) * gain, the background being the median of
    2,000 training frames, kept in the checkpoint (as V's vae.background_gain; for fixed-camera
    games). 0: it reads the frame (the paper)"""
    motion_kernels: int = 0
    """with the copy skip: shift kernels the skip can move the frame read by before keeping it (0:
    the plain copy skip). The state picks, per pixel, "stay" or one of these kernels, each a
    softmax over (2 * motion_radius + 1)^2 offsets predicted from h_t, so an object the action
    moves can be carried along instead of redrawn (worldsim.models.gamegan.renderer.MotionSkip)"""
    motion_radius: int = 4
    """the motion kernels' reach, in pixels of the 64 x 64 frame"""
    motion_sharp: bool = False
    """the motion skip's moves are whole-pixel shifts (one-hot kernel and per-pixel choice in the
    forward pass, the softmaxes' gradients in the backward pass), so moving the frame does not
    blur it; soft kernels blur as they shift, and an open loop compounds the blur"""
    motion_local: bool = False
    """the motion skip has one more choice per pixel, "keep moving": each pixel moves on by the
    offset block matching finds it moved by from x_{t-1} to x_t (within motion_radius; nothing in
    it is learned but where the state chooses it), so a small object that moves on its own (Breakout's ball) is
    carried at its own speed; the state's kernels, one per frame, keep what the action moves"""
    keep_sharp: bool = False
    """with the copy skip: its keep share is all or nothing per pixel (rounded to 0 or 1 in the
    forward pass, the sigmoid's gradient in the backward pass), so a small object kept step after
    step keeps its full colour; a soft share below 1 shrinks it at every step of open loop (on
    Breakout, 500 steps trained so kept the ball less than a soft keep rounded at inference)"""
    motion_bounce: bool = False
    """with motion_local: four more choices per pixel, "keep moving" turned down, up, right or left
    (the offset's row or column made to point that way), so a ball can be sent off a wall, a
    paddle or a brick the way the game sends it; keep moving alone carries it into the wall (on
    Breakout a 1,500-step warm start did not learn to turn it; docs/RESULTS.md)"""
    motion_onward: bool = False
    """with motion_local: "stay" keeps moving too (each pixel moves on by keep moving's offset; a
    pixel that did not move stays), so things go on moving wherever the state chooses nothing
    else and the state need not find a small ball to keep it going, only to stop or turn it (on
    Breakout, trained so, it kept no more of the ball: keep moving's whole-pixel speed is the
    limit; docs/RESULTS.md)"""
    spatial: int = 0
    """channels of a spatial state beside h_t (0: none, the paper's form): a convolutional LSTM
    with a state per 16 x 16 cell of the frame, reading the frame encoder's 16 x 16 layer and h_t,
    whose state the renderer's keep share, motion choices and dynamic components' object and
    attribute maps read at each place. h_t reads the frame into one vector, from which a small
    object (Breakout's 2-pixel ball) is drawn blurred or not at all; here its place and motion can
    be held where it is (worldsim.models.gamegan.dynamics)"""
    output: str = "linear"
    """the renderer's last activation: linear (clamped to [0, 1]) or sigmoid (our first form: it
    stalls at a black frame on mostly dark games, see worldsim.models.gamegan.renderer.to_pixels)"""
    clamp_inward: bool = False
    """with output linear (our addition): where the clamp to [0, 1] cuts a value off, its gradient
    still passes when it points back into the range (never further out); the forward pass is
    unchanged, so a checkpoint may be resumed with it on or off. false: the plain clamp passes
    nothing there, and where the renderer has learned to draw black below 0 nothing can teach it
    to draw there again (on Breakout the served ball: every component's image is below 0 at its
    pixels in every model, docs/RESULTS.md, "the gradient the clamp stops")"""
    recon_weight: float = 0.2
    """weight of the pixel reconstruction loss, in the units recon_reduction sets. 0.2 with
    frame_sum is the released VizDoom recipe's 0.05 (its frames are in [-1, 1], where a squared
    error is 4x that in [0, 1])"""
    recon_norm: str = "l2"
    """pixel reconstruction loss: l2 (squared error) or l1 (absolute error)"""
    recon_reduction: str = "frame_sum"
    """how the per-value errors of frames in [0, 1] add up: frame_sum (summed over each frame's
    3 x 64 x 64 = 12,288 values, averaged over frames: the released code's form) or mean
    (averaged over values: 12,288x weaker for the same weight; worldsim's first form, with which
    the term was too weak to act). The cycle loss uses the same reduction"""
    drawn_weight: float = 0.0
    """with the copy skip (our addition): the reconstruction term is also taken on the renderer's
    own drawing, before the skip blends it with the frame read (same norm, reduction and change
    weights, times recon_weight and this; 'recon_drawn' in the logs). 0: only the blended frame is
    scored, so whatever the skip carries (on Breakout the ball: keep share 0.92-1.00 where it is)
    the renderer never learns to draw, and an object the skip loses in open loop is not drawn
    back. 1: the drawing is held to the whole next frame as much as the frame itself. On
    Breakout it drew the ball only with change_weight 10 as well (docs/RESULTS.md, "where
    GameGAN's ball comes from"); with both kept on through the adversarial phase, open loop
    from two real frames the ball is within 4 px of the game's over steps 9-16 in 0.46-0.60 of
    the frames, against 0.02-0.04 without ("the serve the dream never makes")"""
    change_weight: float = 1.0
    """weight of the pixels that change from the real x_t to the real x_{t+1} (any channel by more
    than 1/16) in the reconstruction loss, relative to 1 for the others (1: every pixel alike). In
    Breakout, 0.25 % of the pixels change per step and 82 % of the copy error is on the paddle's
    rows; a model can halve that error by smearing the paddle without following the action"""
    recon_only_steps: int = 1500
    """warm start: the first N steps train the generator on reconstruction alone (noise fixed at
    0, teacher-forced as recon_only_open_loop says, no discriminator), the path from the frame
    read to the frame drawn; then adversarial training with the schedule below"""
    recon_only_open_loop: bool = False
    """false: every step of the warm start is teacher-forced (it never reads a frame it drew, so
    its open loop meets its own errors only after it). true: the warm start's teacher forcing
    decays linearly from every step to warm_up_floor over its first half; in its second half
    each clip's later steps read the model's own frames (detached, as detach_input), and learn
    to draw the real next frame from them"""
    recon_only_lr: float = 1e-3
    """the generator's Adam learning rate in the reconstruction warm start (0: lr). On the
    synthetic moving square, 300 warm-start steps at 1e-3 beat copying the frame (one-step MSE
    0.0084 vs 0.0155) where 1e-4 had not yet (0.018)"""
    feature_match_weight: float = 10.0
    """weight of the L1 feature matching loss on the single-frame discriminator's features (released: 10)"""
    action_weight: float = 1.0
    """weight of the action reconstruction loss (action-conditioned discriminator's head)"""
    noise_weight: float = 30.0
    """weight of the noise z_t reconstruction loss on generated transitions (released: 30)"""
    cycle_weight: float = 0.1
    """weight of the memory cycle loss (static component re-read from the final memory; L1,
    reduced as recon_reduction): the released 0.05 on [-1, 1] frames, where an absolute error is
    2x that in [0, 1]"""
    mask_weight: float = 0.01
    """weight of the L1 sparsity penalty on the dynamic components' masks (mean over pixels)"""
    spectral_norm: bool = True
    """spectral normalisation of every discriminator layer (as the released code)"""
    d_background_gain: float = 0.0
    """> 0: the three discriminators read the foreground, (x - background) * gain, with the frame
    encoder's background (so it needs background_gain > 0), where the backdrop reads as 0 and a
    small object is what differs between frames; 0: they read the frame moved to [-1, 1] (the
    paper). Not saved with the discriminators' weights; a run may be resumed with it changed"""
    patch_weight: float = 0.0
    """> 0 (our addition): the frame discriminator also judges cells of its 16 x 16 layer (10 x 10
    pixels each; its own hinge loss, 'd_patch'), and G's loss adds this weight times the mean
    over the cells judged of -logit ('g_patch': weight 1 weighs those cells together as much as
    the whole frame's verdict). 0: the paper's single verdict per frame. A run may be resumed
    with it turned on: the patch head starts fresh, and so does the discriminators' optimizer"""
    patch_cells: int = 4
    """with patch_weight: the cells judged per frame, the K where the generated frame differs
    most from its real counterpart (mean absolute difference over the cell's 4 x 4 pixels), the
    same cells of both; 0: all 256. Over all 256 a 2-pixel ball is one cell of 256 whose verdict
    the same backdrop in both cannot move: on Breakout the patch loss stayed at 2 (docs/RESULTS.md,
    "a discriminator at the ball's scale")"""
    detach_input: bool = True
    """cut the gradient through a generated frame fed back as the next step's input (as the
    released code): each step learns from its own output only"""
    kernel_temperature: float = 0.1
    """softmax temperature of the memory's 3x3 shift kernels (released: 0.1; 1.0 lets attention
    smear over the grid within a few steps, so the memory cannot hold a map)"""
    r1_gamma: float = 10.0
    """R1 gradient penalty on real data (the gradient with respect to frames in [0, 1]), for every
    discriminator. After a warm start whose frames are close to the real ones, 10 holds every
    discriminator at chance (Breakout: hinge losses at 2 through 1,500 adversarial steps; 0.1 lets
    them learn: docs/RESULTS.md, "discriminators that never learned")"""
    r1_every: int = 4
    """apply R1 every N discriminator steps, scaled by N (lazy regularisation; 1: every step)"""
    temporal_scales: int = 3
    """time scales (3-D conv blocks, each halving time) judged by the temporal discriminator"""
    lr: float = 1e-4
    """Adam learning rate of the generator and the discriminators (paper: 1e-4)"""
    beta1: float = 0.0
    """Adam beta1 (paper: 0)"""
    beta2: float = 0.9
    """Adam beta2 (paper: 0.9)"""
    end_bias: float = 0.5
    """share of training clips that end at the last frame of an episode the game ended (a death),
    so the model sees how episodes end (released: 0.5); 0: every start equally likely"""
    start_bias: float = 0.0
    """share of the other training clips (those end_bias leaves where they fell) that start at an
    episode's first frame, so the model sees how the game begins: on Breakout the serve (the ball
    appears one step after FIRE, always at the same place) is otherwise in 0.7 % of the clips
    (1.4 % without end_bias); 0: every start equally likely"""
    clip_len: int = 12
    """transitions per training clip (paper: 32; 12 keeps a step under a second on 2 CPU cores)"""
    warm_up: int = 6
    """teacher-forced steps at the start of adversarial training (paper: 16 of 32), decayed
    linearly to warm_up_floor"""
    warm_up_floor: int = 3
    """teacher-forced steps never fall below this (the released code's min_warmup)"""
    warm_up_decay_steps: int = 2000
    """steps (after the reconstruction warm start) over which the warm-up decays to its floor"""
    batch_size: int = 4
    """clips per step (per process under torchrun)"""
    steps: int = 3000
    """generator steps in all: the reconstruction warm start's, then adversarial ones (one
    discriminator step each). 1,500 + 1,500 took 39 min on 2 AVX-512 cores (docs/RESULTS.md);
    expect ~3x that where torch has only AVX2"""
    mixed_precision: bool = True
    """autocast on CUDA (ignored on CPU)"""
    amp_dtype: str = "bf16"
    """autocast dtype on CUDA: bf16 or fp16 (fp16 adds a gradient scaler)"""
    val_fraction: float = 0.05
    """share of episodes held out for validation"""
    val_clips: int = 16
    """held-out clips for the one-step and open-loop pixel errors"""
    buffer_episodes: int = 64
    """episodes held in memory at once for clip sampling (bounds memory)"""
    eval_every: int = 500
    """steps between held-out evaluations, sample images and checkpoints"""
    log_every: int = 10
    """steps between logged scalars"""
    name: str = "gamegan"
    """model name in the run: checkpoints/NAME.pt, NAME_samples.png, logs/NAME (e.g. gamegan_nomemory for a second variant)"""


@dataclass
class RayConfig:
    address: str = ""
    """Ray cluster that plays the real-game episodes of collection, real-game evaluation and
    real-game CMA-ES: auto (the cluster `ray start` joined this machine to), HOST:PORT, or local (a
    private one-machine cluster); '' (default): local game processes, and Ray is not imported"""
    workers: int = 0
    """Ray actors, each keeping one game alive (0: one per CPU of the cluster)"""

    def workers_or(self, local: int) -> int:
        """How many play the real-game episodes: ray.workers when the episodes go to a cluster, else
        `local`, the game processes this machine runs (collect.workers, evaluate.workers)."""
        return self.workers if self.address else local


@dataclass
class Config:
    env: str = "Doom"
    """game: CarRacing, Doom (TakeCover), Doom/<Scenario>, Atari/<Game>"""
    preset: str = "default"
    """size preset the config started from: smoke, default or paper"""
    seed: int = 0
    """seed for collection, data splits and training"""
    device: str = "auto"
    """torch device: auto (CUDA when present), cpu or cuda"""
    collect: CollectConfig = field(default_factory=CollectConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    mdnrnn: MDNRNNConfig = field(default_factory=MDNRNNConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    iterate: IterateConfig = field(default_factory=IterateConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    gamegan: GameGANConfig = field(default_factory=GameGANConfig)
    ray: RayConfig = field(default_factory=RayConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        data = dict(data)
        sections = {f.name: f.type for f in fields(cls) if f.name in _SECTIONS}
        kwargs = {k: v for k, v in data.items() if k not in sections}
        unknown = set(kwargs) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"config has unknown fields: {sorted(unknown)}")
        for name in sections:
            section_cls = _SECTIONS[name]
            values = data.get(name, {})
            bad = set(values) - {f.name for f in fields(section_cls)}
            if bad:
                raise ValueError(f"config section '{name}' has unknown fields: {sorted(bad)}")
            kwargs[name] = section_cls(**values)
        return cls(**kwargs)


_SECTIONS: dict[str, type] = {
    "collect": CollectConfig, "vae": VAEConfig, "mdnrnn": MDNRNNConfig,
    "controller": ControllerConfig, "iterate": IterateConfig, "evaluate": EvaluateConfig, "gamegan": GameGANConfig,
    "ray": RayConfig,
}


def make_config(env: str, preset: str = "default", **top_level: Any) -> Config:
    """Build the config for `env` from a preset; game-specific zeros are filled in by `resolve`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    cfg = Config(env=env, preset=preset, **top_level)
    if preset == "smoke":
        cfg.collect = CollectConfig(episodes=4, workers=2, max_steps=60)
        cfg.vae = VAEConfig(z_dim=8, channels=8, epochs=1, batch_size=32, buffer_episodes=4, val_fraction=0.25)
        cfg.mdnrnn = MDNRNNConfig(hidden=32, seq_len=16, batch_size=4, steps=30, eval_every=15, val_fraction=0.25)
        cfg.controller = ControllerConfig(population=8, rollouts=2, generations=3, eval_every=2, eval_episodes=8,
                                          max_steps=100)
        cfg.iterate = IterateConfig(rounds=0, episodes=2, mdnrnn_steps=10)
        cfg.evaluate = EvaluateConfig(episodes=4, max_steps=100)
        cfg.gamegan = GameGANConfig(
            channels=4, d_channels=4, hidden=32, noise_dim=4, action_embed=8, memory_height=5, memory_width=5,
            memory_dim=8, type_dim=4, attribute_dim=4, map_size=8, temporal_scales=2, clip_len=6, warm_up=3,
            warm_up_decay_steps=10, warm_up_floor=1, recon_only_steps=2, batch_size=2, steps=6, val_clips=2,
            buffer_episodes=4, eval_every=3,
            log_every=1, val_fraction=0.25,
        )
    elif preset == "paper":
        cfg.collect = CollectConfig(episodes=10_000)
        cfg.vae = VAEConfig(epochs=10)
        cfg.mdnrnn = MDNRNNConfig(
            hidden=0, seq_len=500 if env.lower().startswith("doom") else 999, batch_size=100, steps=20_000
        )
        cfg.controller = ControllerConfig(generations=300, eval_episodes=1024)
        # The released VizDoom recipe (nv-tlabs/GameGAN_code, scripts/vizdoom_multi.sh and its
        # defaults): generator width 16, discriminator 16, state 512, memory 21 x 21 x 512, two
        # components, noise 32, 32-step clips with 16 teacher-forced, 4 clips per process (it ran
        # 4 GPUs: torchrun --nproc_per_node 4 gives its batch of 16), kernel temperature 0.1,
        # feature matching x10, noise reconstruction x30 (the GameGANConfig defaults). Where this
        # differs: a teacher-forcing floor of 4 (released: 0), a 5,000-step reconstruction warm
        # start (released: none), the decay counted in steps (released: 60 epochs of its data),
        # one frame per game tic (its data keeps every third tic), the layer-normalised frame
        # encoding and the clamped linear output (released: tanh). No copy skip: the paper's form.
        cfg.gamegan = GameGANConfig(
            channels=16, d_channels=16, hidden=512, memory_height=21, memory_width=21, memory_dim=512,
            skip=False, clip_len=32, warm_up=16, warm_up_floor=4, warm_up_decay_steps=50_000, recon_only_steps=5000,
            batch_size=4, steps=200_000, buffer_episodes=512,
            val_clips=64, eval_every=5000, log_every=50,
        )
    return cfg


def resolve(cfg: Config, game: GameInfo) -> Config:
    """Fill fields left unset (0 or ''; iterate.rounds: -1) with the game's own values
    (game.defaults: the paper's z and LSTM sizes, episode counts and M's steps for the `default`
    preset); a stored or given value is never replaced."""
    for section, values in game.defaults.items():
        sub = getattr(cfg, section)
        for name, value in values.items():
            unset = (-1,) if (section, name) == ("iterate", "rounds") else (0, "")
            if getattr(sub, name) in unset:
                setattr(sub, name, value)
    return cfg


def tune(cfg: Config, game: GameInfo) -> Config:
    """Start a new run from the game's measured settings (game.tuning) where they differ from the
    paper's; for new runs only, before the command line's overrides."""
    for section, values in game.tuning.items():
        sub = getattr(cfg, section)
        for name, value in values.items():
            if not hasattr(sub, name):
                raise ValueError(f"{game.name}: tuning names no config field {section}.{name}")
            setattr(sub, name, value)
    return cfg


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--section.field VALUE` for every field of every section (e.g. `--vae.epochs 5`)."""
    group = parser.add_argument_group("config overrides (any field of any section)")
    for section, section_cls in _SECTIONS.items():
        for f in fields(section_cls):
            group.add_argument(
                f"--{section}.{f.name}",
                dest=f"override:{section}.{f.name}",
                type=_field_type(section_cls, f.name),
                default=None,
                metavar=f.type.upper() if isinstance(f.type, str) else None,
                help=_field_docs(section_cls).get(f.name, "").replace("%", "%%"),  # argparse formats help with %
            )


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """`--field-name VALUE` for every field of the settings dataclass `cls` (a benchmark's own
    knobs, e.g. the world-model comparison's), typed, documented and defaulted from the class
    itself, so a script never restates them; read back with settings_from_args."""
    docs = _field_docs(cls)
    for f in fields(cls):
        kwargs: dict[str, Any] = {"dest": f"setting:{f.name}", "default": f.default,
                                  "help": f"{docs.get(f.name, '')} (default: {f.default})".strip()}
        if str(f.type).startswith("tuple[int, int]"):
            kwargs.update(type=int, nargs=2, metavar=("A", "B"))
        elif str(f.type).startswith("tuple[str, ...]"):
            kwargs.update(type=str, nargs="*", metavar="VALUE")
        else:
            kwargs.update(type=_field_type(cls, f.name), metavar=str(f.type).upper())
        parser.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)


def settings_from_args(cls: type, args: argparse.Namespace):
    """The `cls` that add_settings_arguments' flags describe."""
    values = {f.name: getattr(args, f"setting:{f.name}") for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The `--section.field` values the user actually gave, as {'section.field': value}."""
    return {
        key.split(":", 1)[1]: value
        for key, value in vars(args).items()
        if key.startswith("override:") and value is not None
    }


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    for dotted, value in overrides.items():
        section, name = dotted.split(".", 1)
        sub = getattr(cfg, section)
        if not hasattr(sub, name):
            raise ValueError(f"unknown config field '{dotted}'")
        setattr(sub, name, value)
    return cfg


def parse_field(section_cls: type, name: str, text: str) -> Any:
    """`text` as the value of field `name` of the config section `section_cls` (typed as the
    --section.field flags are); an unknown field, or a value of the wrong type, is refused."""
    if name not in {f.name for f in fields(section_cls)}:
        raise ValueError(f"unknown {section_cls.__name__} field '{name}'")
    try:
        return _field_type(section_cls, name)(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _field_type(section_cls: type, name: str):
    annotation = {f.name: f.type for f in fields(section_cls)}[name]
    return {"int": int, "float": float, "str": str, "bool": _parse_bool}.get(str(annotation), str)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got '{text}'")


@functools.cache
def _field_docs(section_cls: type) -> dict[str, str]:
    """The docstrings under dataclass fields (read from the source, like CleanRL's Args)."""
    body = ast.parse(inspect.getsource(section_cls)).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = nxt.value.value
    return docs
