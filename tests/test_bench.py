"""ISAC-Bench: the normalised score, the results schema and its validator, the command line end to end."""

import json
import math

import gymnasium as gym
import pytest

import isac_gym  # noqa: F401
from isac_gym import bench, oracles
from isac_gym.bench import protocol
from isac_gym.bench.__main__ import main

SLP = "ISAC-RIS-SLP-v0"  # the fastest oracle (well under a second per scenario)


def _ref(log_random, log_oracle):
    return protocol.Reference(1000, log_random, log_oracle, True, "converged", 0.1)


def test_the_score_is_zero_at_random_one_at_the_oracle_and_zero_when_infeasible():
    ref = _ref(math.log(3.0), math.log(30.0))  # a maximised metric (SINR)
    assert ref.score(3.0, True) == 0.0
    assert ref.score(30.0, True) == 1.0
    assert ref.score(300.0, True) == pytest.approx(2.0)  # 10 dB past the oracle
    assert ref.score(300.0, False) == 0.0  # infeasible scores as random, however good its objective
    crb = _ref(math.log(1e-3), math.log(1e-5))  # a minimised metric: halfway in dB scores 0.5
    assert crb.score(1e-4, True) == pytest.approx(0.5)
    assert crb.ratio(1e-2) == pytest.approx(-0.5) and crb.score(1e-2, False) == 0.0
    assert _ref(1.0, 1.0).score(5.0, True) == 0.0  # no span: nothing to normalise by, never NaN
    # the summary keeps both readings: an infeasible answer at the oracle's objective scores 0 with ratio 1
    eps = [protocol.Episode(1000, 30.0, False, 0.1), protocol.Episode(1001, 3.0, True, 0.3)]
    s = protocol.summarise(eps, {1000: ref, 1001: protocol.Reference(1001, math.log(3.0), math.log(30.0), True,
                                                                     "converged", 0.1)})
    assert (s.score, s.feasible, s.ratio, s.episodes) == (0.0, 0.5, 0.5, 2)
    assert s.decision_s == pytest.approx(0.2)


def test_anchors_are_the_random_geometric_mean_and_the_oracle_of_the_scenario():
    env = gym.make(SLP)
    ref = protocol.compute_reference(env, 1003)
    env.reset(seed=1003)
    scenario = env.unwrapped.current_scenario
    sol = oracles.make(env, "oracle").solve(scenario)
    draws = [oracles.RandomPolicy(env, seed=i).solve(scenario).objective for i in range(bench.RANDOM_DRAWS)]
    assert ref.log_oracle == pytest.approx(math.log(sol.objective), rel=1e-12)
    assert ref.log_random == pytest.approx(sum(math.log(d) for d in draws) / len(draws), rel=1e-12)
    assert ref.score(sol.objective, True) == pytest.approx(1.0)
    assert ref.score(math.exp(ref.log_random), True) == pytest.approx(0.0, abs=1e-12)


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
    assert f"| {SLP} | their-agent | agent | 2 | 1.000 ± 0.000 | 100 % | 1.000 | 500.0 ms |" in capsys.readouterr().out
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
