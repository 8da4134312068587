"""Train V, the convolutional VAE, on the recorded frames."""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(["vae"], __doc__))
