"""Hostile input, table-driven, for every registered id: every bad constructor argument raises ``ValueError``
naming the argument, and bad actions are refused clearly.

The table has two parts per id: values derived from each argument's declared kind (sizes that are zero,
negative, fractional, strings or booleans; NaN, infinite and absurd real values; unknown choices; malformed
pairs) and hand-written cases the kinds cannot express (mismatched sizes, cross-field rules, wrong types).
"""

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest

import isac_gym

IDS = sorted(isac_gym.ENVIRONMENTS)

#: Bad values per declared kind (validation.param); ``low``/``high`` bounds add their own below.
BY_KIND = {
    "int": [2.5, "4", True, None],  # and below the lower bound (1 unless declared), see hostile_table
    "positive": [0.0, -1.0, math.nan, math.inf, "1", None],
    "nonneg": [-1.0, math.nan, -math.inf, "0"],
    "finite": [math.nan, math.inf, -math.inf, "0", None],
    "choice": ["bogus", 3, None],
    "pair": [(3.0, 1.0), (math.nan, 1.0), 5.0, (1.0, 2.0, 3.0), "ab"],
}

#: Cases the kinds cannot express: (kwargs, the argument the error must name).
EXTRA = {
    "ISAC-FIM-v0": [({"y_max_wl": 1.0, "step_wl": 0.3}, "y_max_wl"), ({"action_mode": "Paper"}, "action_mode"),
                    ({"p_max_dbm": 1e6}, "p_max_dbm"), ({"user_distance_m": (0.0, 10.0)}, "user_distance_m")],
    "ISAC-RIS-SLP-v0": [({"clutter_bins": (1,)}, "clutter_bins"), ({"clutter_angles_deg": (math.nan, 10.0)},
                                                                     "clutter_angles_deg"),
                        ({"n_slots": 2}, "n_slots"), ({"ris_position_m": (1.0,)},
                                                                              "ris_position_m")],
    "ISAC-RIS-SLP-DoA-v0": [({"clutter_bins": (-1, 2)}, "clutter_bins"), ({"user_center_m": "here"}, "user_center_m"),
                            ({"p_max_dbm": 500.0}, "p_max_dbm")],
    "ISAC-SIM-v0": [({"target_cells_theta": (9,), "target_cells_phi": (9, 27)}, "target_cells_theta"),
                    ({"target_cells_theta": (99, 27)}, "target_cells_theta"),
                    ({"target_cells_theta": (9, 9), "target_cells_phi": (9, 9)}, "target_cells"),
                    ({"problem": "sum"}, "problem"), ({"target_cells_phi": ()}, "target_cells_phi")],
    "ISAC-MFRIS-v0": [({"n_users_reflection": 9}, "n_users_reflection"), ({"n_targets_reflection": 5},
                                                                          "n_targets_reflection"),
                      ({"surface": "star", "protocol": "MS"}, "protocol"), ({"protocol": "XS"}, "protocol"),
                      ({"surface": "mirror"}, "surface")],
    "ISAC-ET-v0": [({"vehicle_size_m": (4.8, 1.8)}, "vehicle_size_m"), ({"vehicle_size_m": (4.8, -1.0, 1.5)},
                                                                        "vehicle_size_m"),
                   ({"target_azimuth_deg": (0.0, 95.0)}, "target_azimuth_deg"), ({"shape": "plane"}, "shape"),
                   ({"problem": "max"}, "problem"), ({"coverage_eps": 0.5}, "coverage_eps")],
}

#: Keyword arguments of the env shells themselves.
SHELL = [({"scenario": "sometimes"}, "scenario"), ({"scenario": "fixed", "scenario_seed": -1}, "scenario_seed"),
         ({"scenario_seed": 1.5}, "scenario_seed"), ({"render_mode": "ansi"}, "render_mode"),
         ({"bogus_argument": 1}, "bogus_argument")]


def hostile_table(env_id: str) -> list[tuple[dict, str]]:
    """Every hostile constructor call of ``env_id``: ``(kwargs, name the ValueError must contain)``."""
    system_class = gym.make(env_id).unwrapped.system_class
    cases = []
    for cls in (system_class.params_class, system_class.options_class):
        for f in dataclasses.fields(cls):
            meta = f.metadata
            kind = meta.get("kind")
            bad = list(BY_KIND.get(kind, []))
            if kind == "int":
                low = 1 if meta.get("low") is None else int(meta["low"])
                bad += [low - 1, low - 4]
            if kind in ("int", "positive", "nonneg", "finite"):
                if meta.get("high") is not None:
                    bad.append(meta["high"] * 10 + 1)
                if meta.get("low") is not None and kind != "int":
                    bad.append(meta["low"] - 1.0 - abs(meta["low"]))
            if kind == "choice" and meta.get("choices") and len(meta["choices"]) == 1:
                bad = [b for b in bad if b not in meta["choices"]]
            cases += [({f.name: value}, f.name) for value in bad]
    return cases + EXTRA.get(env_id, []) + SHELL


@pytest.mark.filterwarnings("ignore:.*render_mode:UserWarning")  # Gymnasium's own note before the env refuses it
@pytest.mark.parametrize("env_id", IDS)
def test_every_hostile_constructor_argument_is_refused_by_name(env_id):
    table = hostile_table(env_id)
    assert len(table) >= 12
    missed = []
    for kwargs, name in table:
        try:
            gym.make(env_id, **kwargs)
        except ValueError as exc:
            if name not in str(exc):
                missed.append((kwargs, f"ValueError without {name!r}: {exc}"))
        except Exception as exc:  # anything but a ValueError is a defect
            missed.append((kwargs, f"{type(exc).__name__}: {exc}"))
        else:
            missed.append((kwargs, "accepted"))
    assert not missed, missed


@pytest.mark.parametrize("env_id", IDS)
def test_the_vector_env_refuses_bad_shell_arguments(env_id):
    for kwargs, name in [({"num_envs": 0}, "num_envs"), ({"num_envs": 2.5}, "num_envs"),
                         ({"num_envs": 2, "max_episode_steps": 0}, "max_episode_steps"),
                         ({"num_envs": 2, "render_mode": "rgb_array"}, "render_mode")]:
        with pytest.raises(ValueError, match=name):
            gym.make_vec(env_id, vectorization_mode="vector_entry_point", **kwargs)


@pytest.mark.parametrize("env_id", IDS)
def test_bad_actions_are_refused_clearly(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    dim = env.action_space.shape[0]
    for value in (np.nan, np.inf, -np.inf):
        a = np.zeros(dim, np.float32)
        a[dim // 2] = value
        with pytest.raises(ValueError, match="NaN or infinite"):
            env.step(a)
    for shape in ((dim + 1,), (dim - 1,), (1, dim), ()):
        with pytest.raises(ValueError, match="shape"):
            env.step(np.zeros(shape, np.float32))
    with pytest.raises(ValueError):
        env.step("not an action")
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, dim), np.float32))
