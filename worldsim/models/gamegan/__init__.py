"""GameGAN (Kim et al., CVPR 2020): an action-conditioned GAN that simulates a game in pixel
space. One component a file: dynamics engine, memory module, rendering engines,
discriminators, the model tying them together, and the (pure) loss functions."""
from worldsim.models.gamegan.model import GameGAN, GameGANState, load_gamegan

__all__ = ["GameGAN", "GameGANState", "load_gamegan"]
