"""worldsim: learn generative world models of games (World Models V+M, GameGAN), play inside
them, and train controllers in the dream."""

__version__ = "0.1.0"

import gymnasium as _gym

_gym.register(
    id="worldsim/Dream-v0",
    entry_point="worldsim.dream_env:DreamEnv",
    vector_entry_point="worldsim.dream_env:DreamVectorEnv",
    disable_env_checker=False,
)
