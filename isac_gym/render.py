"""The shared ``rgb_array`` renderer: one row of panels drawn with matplotlib's Agg backend (no display).

Each system contributes only its panels (:meth:`isac_gym.envs.base.System.render_panels`): the
transmit beam pattern with users and targets marked, then the system's own state (surface shapes,
phases, margins, ...). :func:`render_frame` lays them out and returns the frame as an RGB array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PANEL_SIZE = (4.4, 3.8)  # inches per panel
DPI = 100  # 380 px tall
LABEL_SIZE = 9


def frame_title(system: Any, info: dict[str, Any]) -> str:
    """The frame's headline: objective, score, feasibility, the users' worst SINR and every violation."""
    sinr = np.atleast_1d(np.asarray(info["sinr"], dtype=float))
    if sinr.size and np.min(sinr) > 0:
        users = f"worst user SINR = {10.0 * np.log10(np.min(sinr)):.1f} dB"
    else:  # a user at SINR 0 (e.g. a RIS-SLP symbol outside its decision region): no dB value to show
        users = f"{int(np.sum(sinr <= 0))} of {sinr.size} users not served"
    violations = ", ".join(f"{k} {float(v):.2g}" for k, v in info["violation"].items()) or "none"
    return (f"{system.objective_name} = {info['objective']:.3g}   objective score = {info['objective_score']:.2f}   "
            f"feasible = {info['feasible']}\n{users}   violations: {violations}")


def render_frame(system: Any, info: dict[str, Any], scenario: Any, refs: Any) -> np.ndarray:
    """``[H, W, 3]`` uint8 frame of a system's panels for one scenario and the ``info`` of its last step.

    Needs matplotlib (``pip install isac-gym[render]``); axes labelled as indices get integer ticks."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError("render_mode='rgb_array' needs matplotlib: pip install 'isac-gym[render]'") from exc

    panels = system.render_panels(info, scenario, refs)
    widths = [panel.width for panel in panels] or [1.0]
    fig = Figure(figsize=(PANEL_SIZE[0] * sum(widths), PANEL_SIZE[1]), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, len(widths), width_ratios=widths)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        panel.draw(ax)
        ax.set_title(panel.title, fontsize=LABEL_SIZE + 1)
        ax.tick_params(labelsize=LABEL_SIZE - 1)
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            axis.label.set_fontsize(LABEL_SIZE)
            if "index" in label:
                axis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(frame_title(system, info), fontsize=LABEL_SIZE + 1)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def pattern_db(power: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """A beam pattern (W) in dB relative to its maximum, floored at ``floor_db``."""
    peak = np.max(power)
    rel = power / peak if peak > 0 else np.zeros_like(power)
    return np.maximum(10.0 * np.log10(np.maximum(rel, 1e-30)), floor_db)


def save_png(frame: np.ndarray, path: Any) -> None:
    """Write an RGB frame to a PNG file."""
    import matplotlib.image

    matplotlib.image.imsave(str(path), frame)
