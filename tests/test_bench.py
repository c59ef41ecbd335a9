"""ISAC-Bench: the normalised score, the results schema and its validator, the command line end to end."""

import json
import math
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

import isac_gym
from isac_gym import bench, oracles
from isac_gym.bench import protocol
from isac_gym.bench.__main__ import main

SLP = "ISAC-RIS-SLP-v0"  # the fastest oracle (well under a second per scenario)


def _ref(random, oracle, maximise=True, scale="log", seed=1000):
    return protocol.Reference(seed, random, oracle, True, "converged", 0.1, scale, maximise)


def test_the_score_is_zero_at_random_one_at_the_oracle_and_zero_when_infeasible():
    ref = _ref(math.log(3.0), math.log(30.0))  # a maximised metric (SINR)
    assert ref.score(3.0, True) == 0.0
    assert ref.score(30.0, True) == 1.0
    assert ref.score(300.0, True) == pytest.approx(2.0)  # 10 dB past the oracle
    assert ref.score(300.0, False) == 0.0  # infeasible scores as random, however good its objective
    crb = _ref(math.log(1e-3), math.log(1e-5), maximise=False)  # a minimised metric: halfway in dB scores 0.5
    assert crb.score(1e-4, True) == pytest.approx(0.5)
    assert crb.ratio(1e-2) == pytest.approx(-0.5) and crb.score(1e-2, False) == 0.0
    # the summary keeps both readings: an infeasible answer at the oracle's objective scores 0 with ratio 1
    eps = [protocol.Episode(1000, 30.0, False, 0.1), protocol.Episode(1001, 3.0, True, 0.3)]
    s = protocol.summarise(eps, {1000: ref, 1001: _ref(math.log(3.0), math.log(30.0), seed=1001)})
    assert (s.score, s.feasible, s.ratio, s.episodes) == (0.0, 0.5, 0.5, 2)
    assert s.decision_s == pytest.approx(0.2)


def test_the_ratio_is_zero_where_the_oracle_is_no_better_than_random():
    """Regression: only an exactly zero span gave 0, so an oracle worse than random flipped every ratio's sign."""
    for maximise in (True, False):
        assert _ref(1.0, 1.0, maximise).score(5.0, True) == 0.0  # no span: never NaN
    worse = _ref(math.log(30.0), math.log(3.0), maximise=True)  # the oracle's SINR below random's
    assert worse.ratio(300.0) == 0.0 and worse.ratio(1.0) == 0.0
    worse_crb = _ref(math.log(1e-5), math.log(1e-3), maximise=False)  # the oracle's CRB above random's
    assert worse_crb.ratio(1e-6) == 0.0


def test_a_signed_objective_is_compared_on_the_asinh_scale():
    """Regression: ET's WIM objective is signed, and its logarithm ended the run (math domain error). On the asinh
    scale, halfway between random (WIM 1000) and the oracle (-6) is asinh's midpoint, not the objective's."""
    wim = _ref(math.asinh(1000.0), math.asinh(-6.0), maximise=False, scale="asinh")
    assert wim.score(-6.0, True) == 1.0 and wim.score(1000.0, True) == pytest.approx(0.0, abs=1e-12)
    mid = math.sinh(0.5 * (math.asinh(1000.0) + math.asinh(-6.0)))
    assert wim.score(mid, True) == pytest.approx(0.5) and 0.0 < mid < 497.0
    assert wim.ratio(300.0) < 0.2  # a typical random configuration stays near 0 (0.70 on the objective itself)
    with pytest.raises(ValueError, match="> 0"):
        _ref(0.0, 1.0).ratio(-1.0)


def test_anchors_are_random_direct_configurations_and_the_oracle_of_the_scenario():
    """The random anchor is the mean log objective of uniformly random *direct* configurations, the same in every
    action mode (regression: FIM's paper mode drew structured moves from the flat start, -6.25 against -5.98 on seed
    1000), and near the mean over many random direct actions stepped in the env; the oracle's anchor is the objective
    the oracle reaches acting in the env."""
    env_id, kwargs = "ISAC-FIM-v0", isac_gym.ENVIRONMENTS["ISAC-FIM-v0"].small
    paper = protocol.compute_reference(gym.make(env_id, **kwargs), 1003)
    direct = protocol.compute_reference(gym.make(env_id, action_mode="direct", **kwargs), 1003)
    assert replace(paper, oracle_seconds=0.0) == replace(direct, oracle_seconds=0.0)  # wall time aside
    env = gym.make(env_id, action_mode="direct", max_episode_steps=1, **kwargs)
    rng = np.random.default_rng(7)
    logs = []
    for _ in range(200):
        env.reset(seed=1003)
        logs.append(math.log(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[-1]["objective"]))
    sem = np.std(logs) / math.sqrt(bench.RANDOM_DRAWS)
    assert abs(paper.random - np.mean(logs)) < 4 * sem
    obs, _ = env.reset(seed=1003)
    reached = env.step(oracles.make(env, "oracle").predict(obs)[0])[-1]
    assert paper.oracle == pytest.approx(math.log(reached["objective"]), rel=1e-9)
    assert paper.score(reached["objective"], reached["feasible"]) == pytest.approx(1.0)


def test_anchors_are_keyed_on_the_problem_not_on_how_the_agent_acts(tmp_path, monkeypatch):
    """Changing the action mode, the step size or a penalty weight keeps the anchors; the budget or the scenarios
    do not."""
    solved = []
    real = protocol.compute_reference
    monkeypatch.setattr(protocol, "compute_reference", lambda env, s: solved.append(s) or real(env, s))
    path = tmp_path / "refs.json"
    protocol.ReferenceStore(SLP, {}, path).get([1000])
    for same in ({"action_mode": "incremental"}, {"w_qos": 16.0, "action_step": 0.3}):
        assert protocol.problem_kwargs(SLP, same) == {}
        protocol.ReferenceStore(SLP, same, path).get([1000])
    assert solved == [1000]
    assert protocol.problem_kwargs(SLP, {"p_max_dbm": 45.0, "w_qos": 1.0}) == {"p_max_dbm": 45.0}
    assert protocol.problem_kwargs(SLP, {"scenario": "fixed", "scenario_seed": 3}) == {"scenario": "fixed",
                                                                                         "scenario_seed": 3}
    assert protocol.problem_kwargs("ISAC-SIM-v0", {"w_comm": 0.2, "w_qos": 2.0}) == {"w_comm": 0.2}
    with pytest.raises(ValueError, match="holds"):
        protocol.ReferenceStore(SLP, {"p_max_dbm": 45.0}, path)


def test_training_scenarios_never_are_evaluation_scenarios():
    """Regression: sub-env i of a run reset with seed + i, so a run seeded near 1000 trained on the evaluation
    scenarios. Seeded as SB3 seeds it (with the run seed), the training env draws other scenarios."""
    from agents.algorithms import build_model
    from agents.evaluation import make_training_env

    env_cfg = {"id": SLP, "max_episode_steps": 5, "kwargs": isac_gym.ENVIRONMENTS[SLP].small}
    evaluation = []
    for s in bench.EVAL_SEEDS[:3]:
        env = gym.make(SLP, **env_cfg["kwargs"])
        env.reset(seed=s)
        evaluation.append(env.unwrapped.current_scenario.symbols)
    for vectorization in ("native", "dummy"):
        venv = make_training_env(env_cfg, 3, vectorization, seed=1000)
        build_model({"algo": "td3", "policy": "MlpPolicy", "net_arch": [8], "buffer_size": 10}, venv, 1000, None)
        venv.reset()
        if vectorization == "native":
            drawn = list(venv.venv.venv.venv.scenario.symbols)
        else:
            drawn = [e.unwrapped.current_scenario.symbols for e in venv.venv.envs]
        for training in drawn:
            assert not any(np.array_equal(training, e) for e in evaluation)
    assert bench.training_seed(1000) >= 2**32 > bench.EVAL_SEEDS[-1]
    assert bench.training_seed(1) - bench.training_seed(0) >= protocol.MAX_SUB_ENVS


def test_run_writes_valid_results_scores_the_oracle_one_and_resumes(tmp_path, capsys, monkeypatch):
    assert main(["run", "--ids", SLP, "--policies", "oracle", "random", "no_ris", "--episodes", "2",
                 "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert f"| {SLP} | oracle | solver | 2 | 1.000 ± 0.000 | 100 % |" in table
    refs = json.loads((tmp_path / "references" / f"{SLP}.json").read_text())
    assert [r["seed"] for r in refs["references"]] == [1000, 1001]
    oracle = bench.load(tmp_path / "results" / SLP / "oracle.json")
    assert oracle.kind == "solver" and [e.seed for e in oracle.episodes] == [1000, 1001]
    assert all(e.feasible and e.status == "converged" for e in oracle.episodes)
    random = bench.load(tmp_path / "results" / SLP / "random.json")
    assert random.kind == "agent" and all(e.status == "acted" for e in random.episodes)

    # a second run computes nothing it already has: only the new seed is solved
    solved = []
    real = protocol.compute_reference
    monkeypatch.setattr(protocol, "compute_reference", lambda env, s: solved.append(s) or real(env, s))
    assert main(["run", "--ids", SLP, "--policies", "oracle", "--seeds", "1000", "1001", "1002",
                 "--out", str(tmp_path)]) == 0
    assert solved == [1002]
    again = bench.load(tmp_path / "results" / SLP / "oracle.json")
    assert sorted(e.seed for e in again.episodes) == [1000, 1001, 1002]
    assert {e.seed: e.objective for e in again.episodes}[1000] == oracle.episodes[0].objective


def _external(tmp_path, **changes):
    """A results file as another paper's code would write it: the oracle's own objectives, under another name."""
    env = gym.make(SLP)
    episodes = []
    for s in (1000, 1001):
        env.reset(seed=s)
        sol = oracles.make(env, "oracle").solve(env.unwrapped.current_scenario)
        episodes.append({"seed": s, "objective": sol.objective, "feasible": True, "decision_s": 0.5})
    data = {"schema": bench.SCHEMA, "env_id": SLP, "env_kwargs": {}, "policy": "their-agent", "kind": "agent",
            "episodes": episodes, "meta": {"steps": 1000}}
    data.update(changes)
    path = tmp_path / "theirs.json"
    path.write_text(json.dumps(data))
    return path, data


def test_score_rates_anyones_results_file_with_the_same_anchors(tmp_path, capsys):
    path, _ = _external(tmp_path)
    assert main(["score", str(path), "--references", str(tmp_path / "cache")]) == 0
    assert f"| {SLP} | their-agent | agent | 2 | 1.000 ± 0.000 | 100 % | 1.000 | – | 500.0 ms |" in capsys.readouterr().out
    assert (tmp_path / "cache" / "references" / f"{SLP}.json").is_file()


def _episode(**changes):
    ep = {"seed": 1000, "objective": 1.0, "feasible": True, "decision_s": 0.1}
    ep.update(changes)
    return ep


@pytest.mark.parametrize("changes, field", [
    ({"schema": "isac-bench/0"}, "results.schema"),
    ({"env_id": "CartPole-v1"}, "results.env_id"),
    ({"env_id": "ISAC-NOPE-v0"}, "results.env_id"),
    ({"kind": "expert"}, "results.kind"),
    ({"policy": ""}, "results.policy"),
    ({"episodes": []}, "results.episodes"),
    ({"env_kwargs": [1]}, "results.env_kwargs"),
    ({"extra": 1}, "unknown keys"),
    ({"episodes": [_episode(objective=-1.0)]}, "results.episodes[0].objective"),
    ({"episodes": [_episode(objective=float("nan"))]}, "results.episodes[0].objective"),
    ({"episodes": [_episode(objective="1e-4")]}, "results.episodes[0].objective"),
    ({"episodes": [_episode(feasible=1)]}, "results.episodes[0].feasible"),
    ({"episodes": [_episode(decision_s=-0.1)]}, "results.episodes[0].decision_s"),
    ({"episodes": [_episode(seed=1.5)]}, "results.episodes[0].seed"),
    ({"episodes": [_episode(), _episode()]}, "results.episodes[1].seed"),
    ({"episodes": [{"seed": 1000, "objective": 1.0}]}, "results.episodes[0] lacks"),
    ({"episodes": [_episode(reward=1.0)]}, "results.episodes[0] has unknown keys"),
])
def test_the_validator_names_the_bad_field(changes, field):
    data = {"schema": bench.SCHEMA, "env_id": SLP, "policy": "x", "kind": "agent", "episodes": [_episode()]}
    bench.validate(data)  # the unchanged file is valid
    data.update(changes)
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        bench.validate(data)


def test_the_validator_rejects_missing_keys_and_non_objects():
    with pytest.raises(ValueError, match="results.episodes is missing"):
        bench.validate({"schema": bench.SCHEMA, "env_id": SLP, "policy": "x", "kind": "agent"})
    with pytest.raises(ValueError, match="a JSON object"):
        bench.validate([1, 2])


def test_validate_command_exits_one_with_the_file_and_field(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"schema": bench.SCHEMA, "env_id": SLP, "policy": "x", "kind": "agent",
                                "episodes": [_episode()]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": bench.SCHEMA, "env_id": SLP, "policy": "x", "kind": "agent",
                               "episodes": [_episode(objective=0.0)]}))
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: results.episodes[0].objective must be a finite number > 0" in err
    (tmp_path / "broken.json").write_text("{")
    assert main(["validate", str(tmp_path / "broken.json")]) == 1
    assert "not JSON" in capsys.readouterr().err


def test_bad_command_lines_fail_in_one_line(tmp_path, capsys):
    assert main(["run", "--ids", SLP, "--policies", "nope", "--episodes", "1", "--out", str(tmp_path)]) == 2
    assert "--policies for ISAC-RIS-SLP-v0 must be among" in capsys.readouterr().err
    assert main(["run", "--ids", SLP, "--episodes", "0", "--out", str(tmp_path)]) == 2
    assert main(["run", "--ids", SLP, "--env-kwargs", "oops", "--out", str(tmp_path)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_figures_command_draws_a_tiny_sweep_whose_points_match_independent_solves_and_resumes(tmp_path):
    """``figures`` on two points and one scenario: PNG and markdown written, the oracle's tabled radar SINR is the
    dB of a separate solve of the env at that budget, an infeasible baseline is counted so, and a rerun measures
    nothing again (the work file is not rewritten)."""
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["figures", "--only", "ris_slp_sinr_vs_power", "--seeds", "1", "--points", "2", "--out", str(out),
            "--work", str(work)]
    assert main(argv) == 0
    assert (out / "ris_slp_sinr_vs_power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "figures.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in text.splitlines()
            if line.startswith("| 4")}
    assert set(rows) == {"40", "45"}
    for p in (40.0, 45.0):
        env = gym.make("ISAC-RIS-SLP-v0", p_max_dbm=p)
        env.reset(seed=1000)
        sol = oracles.make(env, "oracle").solve(env.unwrapped.current_scenario)
        oracle_cell, *_, radar_cell = rows[f"{p:g}"]
        assert oracle_cell.startswith(f"{10 * math.log10(sol.objective):.2f} ") and oracle_cell.endswith("(1/1)")
        assert radar_cell.strip(" |").endswith("(0/1)")  # radar-only ignores the users' QoS: never feasible
    stamp = (work / "ris_slp_sinr_vs_power.json").stat().st_mtime_ns
    (out / "figures.md").unlink()
    assert main(argv) == 0
    assert (work / "ris_slp_sinr_vs_power.json").stat().st_mtime_ns == stamp
    assert (out / "figures.md").read_text() == text


def test_figures_command_refuses_unknown_names_and_counts(tmp_path, capsys):
    assert main(["figures", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["figures", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_a_results_file_of_another_mode_is_refused_not_mixed(tmp_path, capsys):
    """The random policy acts in the env's action mode, and a results file records it: resuming under another mode
    (or a default that changed between versions) is refused in one line instead of mixing two policies' episodes."""
    argv = ["run", "--ids", SLP, "--policies", "random", "--episodes", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert bench.load(tmp_path / "results" / SLP / "random.json").meta == {"action_mode": "structured"}
    capsys.readouterr()
    assert main(argv + ["--env-kwargs", "action_mode=direct"]) == 2
    assert "random.json holds random" in capsys.readouterr().err
