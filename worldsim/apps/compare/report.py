"""What the comparison shows a person: labelled frame grids, the open-loop video, the PSNR/SSIM by
step plot and the results as markdown tables."""
from __future__ import annotations

import io

import numpy as np
import torch

from worldsim.media import image_grid, upscale


def labelled(grid_rows: list[np.ndarray], labels: list[str], scale: int = 2, gap: int = 2,
             label_width: int = 96) -> np.ndarray:
    """image_grid of rows of uint8 (N, H, W, 3) frames with each row's label on the left."""
    import cv2

    grid = image_grid(grid_rows, scale=1, gap=gap)
    h = grid_rows[0].shape[1]
    column = np.full((grid.shape[0], label_width, 3), 255, dtype=np.uint8)
    for i, text in enumerate(labels):
        y = i * (h + gap) + h // 2 + 3
        cv2.putText(column, text[:16], (2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1, cv2.LINE_AA)
    return upscale(np.concatenate([column, grid], axis=1), scale)


def hwc(frames: torch.Tensor) -> np.ndarray:
    """uint8 (..., 3, H, W) -> numpy (..., H, W, 3)."""
    return frames.movedim(-3, -1).numpy()


ERROR_GAIN = 4
"""The videos show |generated - real| times this (clipped), so that small errors are visible."""


def error_frames(a: torch.Tensor, b: torch.Tensor, gain: int = ERROR_GAIN) -> torch.Tensor:
    """gain * |a - b| of uint8 frames, clipped, as uint8 frames."""
    return ((a.int() - b.int()).abs() * gain).clamp(max=255).to(torch.uint8)


def open_loop_video(real: torch.Tensor, generated: dict[str, torch.Tensor], picks: list[int]) -> np.ndarray:
    """Rows real / each model / its error (x ERROR_GAIN), a column per picked clip, one video frame per step ->
    uint8 (T+1, H', W', 3). real (n, T+1, 3, 64, 64), generated[name] (n, T, 3, 64, 64)."""
    steps = real.shape[1]
    video = []
    for t in range(steps):
        rows, labels = [hwc(real[picks, t])], ["real"]
        for name, gen in generated.items():
            g = real[picks, 0] if t == 0 else gen[picks, t - 1]
            rows += [hwc(g), hwc(error_frames(g, real[picks, t]))]
            labels += [name, f"|error| x{ERROR_GAIN}"]
        frame = labelled(rows, labels)
        cv2_text(frame, f"t={t}")
        video.append(frame)
    return np.stack(video)


def cv2_text(image: np.ndarray, text: str) -> None:
    import cv2

    cv2.putText(image, text, (4, image.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 0, 0), 1, cv2.LINE_AA)


def horizon_plot(open_loop: dict[str, dict], horizons: list[int]) -> bytes:
    """PNG bytes: PSNR and SSIM against the step for every model (references dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, unit in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for name, result in open_loop.items():
            values = result[f"{key}_by_step"]
            style = "--" if result.get("reference") else "-"
            ax.plot(range(1, len(values) + 1), values, style, label=name, marker="." if len(values) < 40 else None)
        for h in horizons:
            ax.axvline(h, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel("open-loop step (from the real first frame)")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Held-out clips: generated frame vs real frame, same first frame and actions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def markdown(results: dict) -> str:
    """The results as markdown tables."""
    lines = []
    horizons = [str(h) for h in results["horizons"]]
    held = results["heldout"]
    lines.append(f"Open loop on {results['clips']} clips of {held['episodes']} held-out {results['env']} episodes "
                 f"(same real x_0 and actions; * reference)")
    if "vm_overlap" in held:
        o = held["vm_overlap"]
        v = "unknown (episodes added since)" if o["in_vae_train_split"] is None else o["in_vae_train_split"]
        lines.append(f"(GameGAN never trained on them; of them V's split trained on {v}, "
                     f"M's on at least {o['in_mdnrnn_train_split_at_least']})")
    lines.append("")
    lines.append("| model | " + " | ".join(f"PSNR@{h}" for h in horizons) + " | "
                 + " | ".join(f"SSIM@{h}" for h in horizons) + " | one-step PSNR | one-step SSIM |")
    lines.append("|---" + "|---:" * (2 * len(horizons) + 2) + "|")
    for name, r in results["open_loop"].items():
        label = f"{name}*" if r.get("reference") else name
        one = results["one_step"].get(name)
        tail = f" {one['psnr']:.2f} | {one['ssim']:.3f} |" if one else "  |  |"
        lines.append(f"| {label} | " + " | ".join(f"{r['psnr_at'][h]:.2f}" for h in horizons) + " | "
                     + " | ".join(f"{r['ssim_at'][h]:.3f}" for h in horizons) + " |" + tail)
    copy = results["one_step"].get("copy_last_frame")
    if copy:
        lines.append("| copy_last_frame* |" + "  |" * (2 * len(horizons)) + f" {copy['psnr']:.2f} | {copy['ssim']:.3f} |")
    for obj, by_model in results.get("objects", {}).items():
        first = next(iter(by_model.values()))
        windows = list(first["windows"])
        lines.append(f"\nThe {obj} in open loop ({first['spec']}): of the real frames showing it, the share where "
                     f"the model draws it within {first['tolerance_px']:g} px / draws it at all, by open-loop steps; "
                     f"median distance where both show it; share of frames without it where the model draws one\n")
        lines.append("| model | " + " | ".join(f"steps {w}" for w in windows)
                     + " | median px, last steps | invented | one step from the real frame |")
        lines.append("|---" + "|---:" * (len(windows) + 3) + "|")
        for name, r in by_model.items():
            label = f"{name}*" if results["open_loop"].get(name, {}).get("reference") else name
            cells = [f"{v['placed']:.2f} / {v['drawn']:.2f}" for v in r["windows"].values()]
            last = r["windows"][windows[-1]]["median_distance_px"]
            one = r.get("one_step")
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {last:.1f} | {r['invented']:.2f} | "
                         + (f"{one['placed']:.2f} / {one['drawn']:.2f} |" if one else " |"))
    ac = results.get("action_classifier", {})
    if "accuracy" in ac:
        lines.append(f"\nAction classifier on {ac['heldout_pairs']} held-out pairs (x_t, x_t+{ac['stride']}), trained on "
                     f"real pairs of {ac['train_episodes']} training episodes ({ac['steps']} steps, train accuracy "
                     f"{ac['train_accuracy']:.3f}): chance {ac['chance']:.3f}, majority action {ac['majority']:.3f}\n")
        lines.append("| transitions | accuracy |")
        lines.append("|---|---:|")
        for name, value in ac["accuracy"].items():
            lines.append(f"| {name} | {value:.3f} |")
    mem = results.get("memory", {})
    if "models" in mem:
        k = mem["steps_each_way"]
        lines.append(f"\nMemory: {k} steps left then {k} steps right (actions {mem['actions']}); "
                     f"error against x_0 of x_{k} (out) and x_{2 * k} (back)\n")
        lines.append("| model | MSE out | MSE back | back/out | PSNR back (dB) | SSIM back | MSE x_1 vs x_2N-1 |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        rows = dict(mem["models"])
        if "out_mse" in mem.get("real_game", {}):
            rows["real game*"] = mem["real_game"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['out_mse']:.5f} | {r['back_mse']:.5f} | {r['back_over_out']:.2f} | "
                         f"{r['back_psnr']:.2f} | {r['back_ssim']:.3f} | {r['own_back_mse']:.5f} |")
    cf = results.get("counterfactual", {})
    if "models" in cf:
        obj = cf.get("object")
        what = (f"{obj['name']}'s move along {obj['axis']}" if obj else "the view's horizontal turn")
        real = cf.get("real_game", {}).get("turn_px")
        lines.append(f"\nCounterfactual: {cf['steps']} steps of action {cf['actions'][1]} against {cf['actions'][0]} "
                     f"from the same start; {what}, in pixels"
                     + (f" (real game from {len(real)} seeds' first frames: median {np.nanmedian(real):+.1f})"
                        if real else "") + "\n")
        lines.append("| model | right way | median size (px) | size / real | starts |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, r in cf["models"].items():
            lines.append(f"| {name} | {r['right_way']:.3f} | {r['median_turn_px']:.2f} | {r['turn_over_real']:.3f} | "
                         f"{r['starts']} |")
    return "\n".join(lines)
