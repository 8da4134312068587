"""Training loops for the world models; each is resumable and writes checkpoints atomically."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


def check_finite(value: float, stage: str, step: int, checkpoint) -> None:
    if value != value or value in (float("inf"), float("-inf")):
        raise TrainingDivergedError(
            f"{stage}: loss became {value} at step {step}; stopped, last good checkpoint kept at {checkpoint}"
        )


def resume(path, kind: str, env: str, model, optimizer, lr: float, check=None) -> dict | None:
    """Load a training checkpoint into model and optimizer if there is one; returns it (with
    'state' and 'meta') or None. A learning rate overridden on resume takes effect. check(meta),
    where given, sees the checkpoint's metadata before any weights load (to refuse a checkpoint
    of another form with a clear error)."""
    from worldsim.checkpoint import load_checkpoint

    if not path.is_file():
        return None
    ckpt = load_checkpoint(path, kind=kind, env=env)
    if check is not None:
        check(ckpt["meta"])
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["state"]["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = lr
    return ckpt
