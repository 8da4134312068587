"""Agents that act in real or dreamed games: the controller C and its CMA-ES trainer, the policy
contract and the dream rollout, exploration policies and the collection they record, transfer
evaluation and iterative training."""
