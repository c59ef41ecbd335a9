"""The frames: proportions, legends that hide no data, whole-number ticks on index axes, a header without -inf."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym
from isac_gym.render import frame_title, panel_rows, render_figure

IDS = sorted(isac_gym.ENVIRONMENTS)


def _figure(env_id: str):
    env = gym.make(env_id, render_mode="rgb_array", action_mode="direct")
    env.reset(seed=0)
    info = env.step(env.action_space.sample())[-1]
    u = env.unwrapped
    return env, render_figure(u.system, info, u.current_scenario, u.current_references)


@pytest.mark.parametrize("env_id", IDS)
def test_frames_stay_between_four_thirds_and_two_to_one(env_id):
    env, _ = _figure(env_id)
    frame = env.render()
    assert 1.0 <= frame.shape[1] / frame.shape[0] <= 2.05, frame.shape  # SIM's single row was 2640 x 380


@pytest.mark.parametrize("env_id", IDS)
def test_legends_sit_under_the_panels_not_on_the_data(env_id):
    _, fig = _figure(env_id)
    assert all(ax.get_legend() is None for ax in fig.axes)
    if fig.legends:  # one legend for the frame, below every panel, on a background light markers show on
        legend_top = fig.legends[0].get_window_extent(fig.canvas.get_renderer()).y1
        panels_bottom = min(ax.get_window_extent().y0 for ax in fig.axes)
        assert legend_top <= panels_bottom
        assert fig.legends[0].get_frame().get_facecolor()[:3] != (1.0, 1.0, 1.0)


@pytest.mark.parametrize("env_id", ["ISAC-RIS-SLP-v0", "ISAC-RIS-SLP-DoA-v0", "ISAC-MFRIS-v0", "ISAC-SIM-v0"])
def test_matrix_panels_have_whole_number_ticks(env_id):
    _, fig = _figure(env_id)
    fig.canvas.draw()
    heatmaps = [ax for ax in fig.axes if ax.get_images() and ax.get_images()[0].get_extent()[0] == -0.5]
    assert heatmaps
    for ax in heatmaps:
        for ticks in (ax.get_xticks(), ax.get_yticks()):
            assert np.allclose(ticks, np.round(ticks)), ticks  # not user -0.5, 0.5 or slot 2.5


def test_the_header_says_how_many_users_go_unserved_instead_of_minus_infinity():
    class System:
        objective_name = "radar_sinr"

    info = {"objective": 3.0, "objective_score": 0.2, "feasible": False, "sinr": np.array([0.0, 2.0, 0.0]),
            "violation": {"qos": 0.5}}
    title = frame_title(System, info)
    assert "inf" not in title and "2 of 3 users not served" in title
    assert "worst user SINR = 3.0 dB" in frame_title(System, {**info, "sinr": np.array([2.0, 4.0])})


def test_panels_fill_rows_in_order():
    assert panel_rows([1.0, 1.0]) == [[0, 1]]
    assert panel_rows([1.0, 1.0, 1.0]) == [[0, 1], [2]]
    assert panel_rows([2.0, 1.0, 1.0, 1.0, 1.0]) == [[0, 1], [2, 3, 4]]
    assert panel_rows([1.0] * 8) == [[0, 1, 2], [3, 4, 5], [6, 7]]
