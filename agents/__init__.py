"""Agents that act in real or dreamed games: controllers, their CMA-ES trainer,
data-collection (exploration) policies and transfer evaluation."""
