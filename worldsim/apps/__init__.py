"""The top layer: what a person runs. The pipeline and its stages, the command-line front ends,
play in a window, dream videos and the world-model comparison. Only this layer (and scripts/,
benchmarks/) imports agents/: below it, worldsim knows nothing of controllers."""
