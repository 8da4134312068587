"""Training loops for the world models; each is resumable and writes checkpoints atomically."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


def check_finite(value: float, stage: str, step: int, checkpoint) -> None:
    if value != value or value in (float("inf"), float("-inf")):
        raise TrainingDivergedError(
            f"{stage}: loss became {value} at step {step}; stopped, last good checkpoint kept at {checkpoint}"
        )
