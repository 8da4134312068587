"""Pictures a person looks at: image grids (PNG) and videos, written atomically with imageio."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from worldsim.io import atomic_write_with


def image_grid(rows: list[np.ndarray], scale: int = 2, gap: int = 2) -> np.ndarray:
    """Rows of uint8 frames (N, H, W, 3) -> one uint8 image with `gap` white pixels between cells."""
    n = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    grid = np.full((len(rows) * (h + gap) - gap, n * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = frame
    return upscale(grid, scale)


def upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 images (..., H, W, 3): each pixel becomes a scale x scale block."""
    return images.repeat(scale, axis=-3).repeat(scale, axis=-2)


def save_png(path: str | Path, image: np.ndarray) -> None:
    atomic_write_with(path, lambda f: f.write(iio.imwrite("<bytes>", image, extension=".png")))


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are only ever saved, never shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(path: str | Path, fig, dpi: int = 110) -> None:
    """Write a matplotlib figure to a PNG atomically and free it."""
    atomic_write_with(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    pyplot().close(fig)


def save_video(path: str | Path, frames: np.ndarray, fps: int = 30) -> None:
    """uint8 (T, H, W, 3) -> mp4 (or gif, by the file's extension)."""
    path = Path(path)
    data = iio.imwrite("<bytes>", frames, extension=path.suffix, fps=fps) if path.suffix == ".mp4" else iio.imwrite(
        "<bytes>", frames, extension=path.suffix, duration=1000 / fps, loop=0
    )
    atomic_write_with(path, lambda f: f.write(data))
