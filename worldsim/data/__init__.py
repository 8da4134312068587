"""Recorded play as files and streams: episode files and the one train/validation split rule,
encoded episodes (latents), frame streams for V and clip streams for GameGAN."""
