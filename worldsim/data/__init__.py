"""Recorded play: episode files, parallel collection and frame streams for training."""
