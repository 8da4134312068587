"""Train GameGAN, the pixel-space world model, on the recorded episodes (collect them first).
Under torchrun (WORLD_SIZE > 1) it trains with DistributedDataParallel, one process per GPU."""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(["gamegan"], __doc__))
