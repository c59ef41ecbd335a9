"""The shared ``rgb_array`` renderer: panels drawn with matplotlib's Agg backend (no display).

Each system contributes only its panels (:meth:`isac_gym.envs.base.System.render_panels`): the
transmit beam pattern with users and targets marked, then the system's own state (surface shapes,
phases, margins, ...). :func:`render_frame` lays them out in rows (so that a frame stays between about 4:3 and
2:1 whatever the number of panels), gathers the panels' legends into one legend under the panels (no legend
covers data, and light markers stay visible on its grey background) and returns the frame as an RGB array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PANEL_SIZE = (4.4, 3.8)  # inches per panel
DPI = 100  # 380 px per row of panels
LABEL_SIZE = 9
#: Legend entries per line of the frame's legend.
LEGEND_COLUMNS = 6


def panel_rows(widths: list[float]) -> list[list[int]]:
    """The panels (indices) of each row: one row up to two panel widths, two up to six, three beyond; each row
    filled in order up to an equal share of the total width."""
    total = sum(widths)
    n_rows = 1 if total <= 2 else 2 if total <= 6 else 3
    capacity = max(max(widths), -(-total // n_rows))
    rows: list[list[int]] = [[]]
    used = 0.0
    for i, w in enumerate(widths):
        if rows[-1] and used + w > capacity:
            rows.append([])
            used = 0.0
        rows[-1].append(i)
        used += w
    return rows


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
    """``[H, W, 3]`` uint8 frame of a system's panels for one scenario and the ``info`` of its last step
    (:func:`render_figure`, drawn). Needs matplotlib (``pip install isac-gym[render]``)."""
    fig = render_figure(system, info, scenario, refs)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def render_figure(system: Any, info: dict[str, Any], scenario: Any, refs: Any) -> Any:
    """The matplotlib ``Figure`` of a frame, on an Agg canvas: the panels in rows (:func:`panel_rows`), axes that count
    indices or an image's pixels with whole-number ticks, the panels' legends gathered into one under them."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError("render_mode='rgb_array' needs matplotlib: pip install 'isac-gym[render]'") from exc

    panels = system.render_panels(info, scenario, refs)
    widths = [panel.width for panel in panels]
    rows = panel_rows(widths) if panels else []
    units = max((sum(widths[i] for i in row) for row in rows), default=1.0)
    half = int(round(2 * units))  # grid columns of half a panel, so that a shorter row is centred
    fig = Figure(figsize=(PANEL_SIZE[0] * units, PANEL_SIZE[1] * max(len(rows), 1) + 0.6), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(max(len(rows), 1), max(half, 1))
    handles: dict[str, Any] = {}
    for r, row in enumerate(rows):
        column = int(round(units * 2 - 2 * sum(widths[i] for i in row))) // 2
        for i in row:
            span = int(round(2 * widths[i]))
            ax = fig.add_subplot(grid[r, column:column + span])
            column += span
            panel = panels[i]
            panel.draw(ax)
            ax.set_title(panel.title, fontsize=LABEL_SIZE + 1)
            ax.tick_params(labelsize=LABEL_SIZE - 1)
            for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
                axis.label.set_fontsize(LABEL_SIZE)
                if "index" in label or _pixel_axis(ax, axis):
                    axis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_legend() is not None:  # gathered under the panels, where it hides nothing
                for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
                    handles.setdefault(text, handle)
                ax.get_legend().remove()
    fig.suptitle(frame_title(system, info), fontsize=LABEL_SIZE + 1)
    bottom = 0.0
    if handles:
        lines = -(-len(handles) // LEGEND_COLUMNS)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), LEGEND_COLUMNS),
                   fontsize=LABEL_SIZE - 1, facecolor="0.85", framealpha=1.0)
        bottom = (0.3 * lines + 0.1) / fig.get_figheight()
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    return fig


def _pixel_axis(ax: Any, axis: Any) -> bool:
    """Whether ``axis`` of ``ax`` counts the pixels of an image drawn at its default extent (rows and columns of a
    matrix: users, slots, elements), whose ticks must be whole numbers."""
    images = ax.get_images()
    if not images:
        return False
    x0, x1, y0, y1 = images[0].get_extent()
    lo = min(x0, x1) if axis is ax.xaxis else min(y0, y1)
    return lo == -0.5


def pattern_db(power: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """A beam pattern (W) in dB relative to its maximum, floored at ``floor_db``."""
    peak = np.max(power)
    rel = power / peak if peak > 0 else np.zeros_like(power)
    return np.maximum(10.0 * np.log10(np.maximum(rel, 1e-30)), floor_db)


def save_png(frame: np.ndarray, path: Any) -> None:
    """Write an RGB frame to a PNG file."""
    import matplotlib.image

    matplotlib.image.imsave(str(path), frame)
