"""The shared ``rgb_array`` renderer: one row of panels drawn with matplotlib's Agg backend (no display).

Each system contributes only its panels (:meth:`isac_gym.envs.base.System.render_panels`): the
transmit beam pattern with users and targets marked, then the system's own state (surface shapes,
phases, margins, ...). :func:`render_frame` lays them out and returns the frame as an RGB array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PANEL_SIZE = (3.6, 3.0)  # inches per panel
DPI = 80


def render_frame(system: Any, info: dict[str, Any], scenario: Any, refs: Any) -> np.ndarray:
    """``[H, W, 3]`` uint8 frame of a system's panels for one scenario and the ``info`` of its last step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = system.render_panels(info, scenario, refs)
    n = max(len(panels), 1)
    fig = Figure(figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1]), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, n, i + 1)
        panel.draw(ax)
        ax.set_title(panel.title, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{system.objective_name} = {info['objective']:.3g}   score = {info['score']:.2f}   "
                 f"feasible = {info['feasible']}", fontsize=9)
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
