"""worldsim: learn generative world models of games (World Models V+M, GameGAN), play inside
them, and train controllers in the dream. Registers the dreams as gymnasium environments:
"worldsim/Dream-v0" (V+M) and "worldsim/GameGANDream-v0" (GameGAN)."""

__version__ = "0.1.0"

import gymnasium as _gym

_gym.register(
    id="worldsim/Dream-v0",
    entry_point="worldsim.dream_env:DreamEnv",
    vector_entry_point="worldsim.dream_env:DreamVectorEnv",
    disable_env_checker=False,
)
_gym.register(
    id="worldsim/GameGANDream-v0",
    entry_point="worldsim.dream_env:DreamEnv",
    vector_entry_point="worldsim.dream_env:DreamVectorEnv",
    disable_env_checker=False,
    kwargs={"model": "gamegan"},
)
