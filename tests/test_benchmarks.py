"""The benchmark scripts run and report sane figures (their speed goals are read from runs, never asserted)."""

import math

import numpy as np
import pytest

from benchmarks import learn, run, soak


def test_soak_reports_memory_of_each_part_in_a_fresh_process():
    report = soak.main(["--ids", "ISAC-RIS-SLP-v0", "--steps", "300", "--vector-steps", "20", "--num-envs", "16",
                        "--oracle-scenarios", "2"])
    parts = report["ISAC-RIS-SLP-v0"]
    assert set(parts) == {"single", "vector", "oracle"} and parts["oracle"]["feasible"] == 2
    for row in parts.values():
        assert 10 < row["start_mib"] <= row["peak_mib"] < 4096 and math.isfinite(row["growth"])


def test_soak_skips_parts_with_a_count_of_zero():
    report = soak.main(["--ids", "ISAC-FIM-v0", "--steps", "0", "--vector-steps", "3", "--num-envs", "4",
                        "--oracle-scenarios", "0"])
    assert set(report) == {"ISAC-FIM-v0", "ISAC-FIM-v0 action_mode=direct", "ISAC-FIM-v0 action_mode=incremental",
                           "ISAC-FIM-v0 action_mode=paper"}
    assert all(parts.keys() == {"vector"} for parts in report.values())


def test_the_vector_env_peak_memory_is_the_child_processes_own():
    """Regression: getrusage's ru_maxrss survives exec, so a large parent's peak was reported for every id."""
    ballast = np.ones(80_000_000)  # 610 MiB resident in this process
    assert run.peak_rss_gib("ISAC-FIM-v0", 16) < 0.5 < ballast.nbytes / 2**30


def test_the_main_benchmark_runs_on_a_tiny_budget():
    report = run.main(["--ids", "ISAC-FIM-v0", "--steps", "30", "--vector-steps", "2", "--num-envs", "8",
                       "--oracle-scenarios", "0", "--td3-steps", "0", "--sb3vec-steps", "0", "--no-table1",
                       "--no-et-table"])
    row = report["envs"]["ISAC-FIM-v0"]
    assert row["single_ratio_vs_pendulum"] > 0 and row["single_direct_ratio_vs_pendulum"] > 0
    assert row["vector_speedup"] > 0


def test_td3_and_sb3vec_ratios_run_on_a_tiny_budget():
    assert 0 < run.td3_ratio("ISAC-RIS-SLP-v0", 20, rounds=2) < 10
    assert 0 < run.sb3vec_ratio("ISAC-RIS-SLP-v0", 4, 2, rounds=2) < 100


def test_learnability_runs_on_a_tiny_budget_with_the_training_config():
    """The table's score is ISAC-Bench's (an infeasible answer scores 0; regression: it was the objective ratio),
    with the ratio beside it; each action mode of --modes is a row."""
    small = ["env.max_episode_steps=3", "agent.buffer_size=200", "agent.batch_size=8", "agent.net_arch=[16,16]"]
    result = learn.run("ISAC-RIS-SLP-v0", "fixed", 0, 60, small, "direct")
    assert result["steps"] == 60 and len(result["curve"]) == learn.CURVE_POINTS
    assert math.isfinite(result["ratio"]) and 0.0 <= result["feasible"] <= 1.0
    assert result["score"] == (result["ratio"] if result["feasible"] == 1.0 else 0.0)  # one fixed scenario
    assert result["action_mode"] == "direct"
    structured = learn.run("ISAC-RIS-SLP-v0", "fixed", 0, 60, small)  # the id's default mode
    assert structured["action_mode"] == "structured" and structured["feasible"] == 1.0
    lagrangian = learn.run("ISAC-RIS-SLP-v0", "fixed", 0, 60, small + ["agent.lagrangian.enabled=true"], "direct")
    assert lagrangian["agent"] == "td3-lagrangian" and set(lagrangian["lagrange"]) == {"qos"}
    text = learn.table([result, structured, lagrangian])
    for row in ("| fixed | direct | td3 | 60 |", "| fixed | structured | td3 | 60 |",
                "| fixed | direct | td3-lagrangian | 60 |"):
        assert "| ISAC-RIS-SLP-v0 " + row in text


def test_the_discount_follows_the_action_mode():
    """One rule, keyed on the action mode (regression: per-env files set gamma 0 "in the direct mode" whatever the
    mode, so env=sim with the incremental mode got 0 and env=fim in the direct mode 0.99): 0 where a step's reward
    depends on its action alone (direct), 0.99 where the action moves a state (incremental, FIM's paper mode); the
    command line wins."""
    for env_name, mode, gamma in (("ris_slp", None, 0.0), ("fim", None, 0.99), ("fim", "direct", 0.0),
                                  ("sim", "incremental", 0.99), ("sim", "direct", 0.0)):
        overrides = [] if mode is None else [f"env.kwargs.action_mode={mode}"]
        _, agent = learn.compose(env_name, overrides)
        assert agent["gamma"] == gamma and agent["algo"] == "td3", (env_name, mode)
    _, agent = learn.compose("ris_slp", ["agent.gamma=0.5"])
    assert agent["gamma"] == 0.5


def test_the_scripts_fields_are_declared_once():
    """Regression: a training setting was written three times (the schema, conf/config.yaml and a table of bounds).
    The YAML files only compose; the composed defaults and the refused values both come from the dataclasses."""
    import dataclasses

    import yaml
    from hydra import compose, initialize_config_dir

    from agents.cli import CONF
    from agents.config import SCHEMAS, check_values, register

    register()
    for name, schema in SCHEMAS.items():
        assert set(yaml.safe_load((CONF / f"{name}.yaml").read_text())) == {"defaults", "hydra"}
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(name)
        for f in dataclasses.fields(schema):
            if f.name in ("env", "agent"):
                continue
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            assert cfg[f.name] == default, f.name
            low = f.metadata.get("low")
            if low is not None:  # the declared bound is the one check_values enforces
                cfg[f.name] = low - 1
                with pytest.raises(ValueError, match=f.name):
                    check_values(cfg, schema, with_env=False)
                cfg[f.name] = default
