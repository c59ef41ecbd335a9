"""Smoke runs of train.py and evaluate.py: real SB3 training, event files, tables, error handling."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import isac_gym

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["total_timesteps=300", "agent.learning_starts=100", "agent.buffer_size=2000", "agent.batch_size=32",
         "progress_bar=false", "env.max_episode_steps=50"]


def _run(script, *args, cwd=ROOT, check=True, timeout=600):
    proc = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _copy_of(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a run: ``resume=`` continues a run in its own directory, and the module's run is shared."""
    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddpg")
    proc = _run("train.py", "env=fim", "agent=ddpg", *SMALL, "eval_episodes=1", "eval_steps=5",
                "eval_policies=[checkpoint,rigid,random]", "checkpoint_freq=100", f"hydra.run.dir={run_dir}")
    return run_dir, proc


def test_train_writes_model_events_config_and_table(trained):
    run_dir, proc = trained
    assert (run_dir / "model.zip").is_file()
    assert not (run_dir / "replay_buffer.pkl").exists()  # buffers only with checkpoints and interrupted runs
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())  # every 100 steps, the newest 2 kept
    assert ckpts == ["model_200_steps.zip", "model_300_steps.zip", "model_replay_buffer_200_steps.pkl",
                     "model_replay_buffer_300_steps.pkl"]
    assert list((run_dir / "tb").rglob("events.out.tfevents.*"))
    cfg = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "ISAC-FIM-v0" in cfg and "actor_learning_rate" in cfg
    assert "checkpoint" in proc.stdout and "rigid" in proc.stdout and "crb mean" in proc.stdout
    assert "reward" in proc.stdout and "v_qos" in proc.stdout and "baseline" in proc.stdout  # rigid's status
    summary = json.loads((run_dir / "evaluation.json").read_text())["summary"]
    assert [r["policy"] for r in summary] == ["checkpoint", "rigid", "random"]


def test_event_files_hold_metrics_and_reward_terms(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = trained
    acc = EventAccumulator(str(next((run_dir / "tb").iterdir())))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("isac/crb", "isac/sinr_min_db", "isac/objective_score", "isac/violation_qos", "isac/violation_position",
                "isac/clipped_moves", "isac/user_power_mean", "reward/objective_score", "reward/qos", "reward/position",
                "reward/power"):
        assert tag in tags, tag


def test_actor_and_critic_learning_rates_differ(trained):
    from agents.algorithms import DDPG

    run_dir, _ = trained
    model = DDPG.load(run_dir / "model.zip", device="cpu")
    assert model.actor_learning_rate == pytest.approx(3e-5)
    assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(3e-5)
    assert model.critic.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)


def test_evaluate_checkpoint_and_resume(trained, tmp_path):
    run_dir, _ = trained
    proc = _run("evaluate.py", "env=fim", "policy=checkpoint", f"checkpoint={run_dir / 'model.zip'}", "episodes=2",
                "steps=3", "progress_bar=false", f"hydra.run.dir={tmp_path / 'eval'}")
    assert "checkpoint" in proc.stdout
    assert (tmp_path / "eval" / "evaluation.csv").read_text().count("\n") == 3
    resumed = _copy_of(run_dir, tmp_path)
    proc = _run("train.py", *SMALL, "total_timesteps=400", f"resume={resumed / 'model.zip'}", "eval_episodes=0",
                f"hydra.run.dir={tmp_path / 'invocation'}")
    assert "no replay buffer found" in proc.stdout  # a completed run keeps no buffer, and says so
    from agents.algorithms import DDPG

    assert DDPG.load(resumed / "model.zip", device="cpu").num_timesteps == 400
    assert not (tmp_path / "invocation").exists()  # the run continued in its own directory


def test_resume_from_periodic_checkpoint_restores_its_replay_buffer(trained, tmp_path):
    """Regression: SB3 names the buffer model_replay_buffer_<N>_steps.pkl; resume must find it."""
    run_dir = _copy_of(trained[0], tmp_path)
    proc = _run("train.py", *SMALL, "total_timesteps=350", f"resume={run_dir / 'checkpoints' / 'model_300_steps.zip'}",
                "eval_episodes=0", f"hydra.run.dir={tmp_path / 'r'}")
    found = re.search(r"replay buffer restored from .*model_replay_buffer_300_steps.pkl \((\d+) transitions\)", proc.stdout)
    assert found and int(found.group(1)) >= 290, proc.stdout


def test_resume_takes_env_and_agent_from_the_saved_run(trained, tmp_path):
    run_dir, _ = trained
    proc = _run("train.py", "agent=td3", f"resume={run_dir / 'model.zip'}", "eval_episodes=0",
                f"hydra.run.dir={tmp_path / 'a'}", check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "'ddpg'" in proc.stderr
    assert not (tmp_path / "a").exists()
    # without env=/agent=, the saved run's (FIM structured mode, DDPG) are used, not the defaults
    copy = _copy_of(run_dir, tmp_path)
    _run("train.py", *SMALL, "total_timesteps=320", "env.kwargs.action_mode=direct", f"resume={copy / 'model.zip'}",
         "eval_episodes=0", f"hydra.run.dir={tmp_path / 'b'}")


@pytest.mark.parametrize("override, words", [
    (["env.kwargs.n_users=0"], "n_users"), (["eval_policies=[checkpoint,bogus]"], "bogus"),
    (["n_envs=0"], "n_envs"), (["env.kwargs.action_mode=sideways"], "action_mode"),
    (["torch_threads=-1"], "torch_threads"),
])
def test_bad_values_fail_in_one_line_before_training(tmp_path, override, words):
    proc = _run("train.py", *SMALL, *override, f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and words in proc.stderr and proc.stderr.startswith("error:")
    assert not (tmp_path / "run").exists()


def test_badly_typed_values_are_refused_at_compose_time(tmp_path):
    proc = _run("train.py", "agent.batch_size=abc", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert proc.returncode != 0 and "batch_size" in proc.stderr
    assert not (tmp_path / "run").exists()
    assert "env_schema" not in _run("train.py", "--info", "defaults-tree", check=False).stdout


def test_too_few_steps_to_learn_warns(tmp_path):
    proc = _run("train.py", *SMALL, "total_timesteps=50", "eval_episodes=0", f"hydra.run.dir={tmp_path}")
    assert "never trains" in proc.stderr


def test_evaluate_missing_or_incompatible_checkpoint_fails_cleanly(trained, tmp_path):
    """One line, exit 2 and no run directory left behind, for a missing checkpoint, another id, another action mode
    (refused by name: the direct and incremental modes have the same shapes) and other spaces."""
    run_dir, _ = trained  # FIM, its default (structured) mode, DDPG
    cases = [([f"checkpoint={tmp_path / 'nope.zip'}"], "checkpoint not found"),
             (["env=sim", f"checkpoint={run_dir}"], "was trained on ISAC-FIM-v0, not ISAC-SIM-v0"),
             ([f"checkpoint={run_dir / 'model.zip'}", "env.kwargs.action_mode=direct"],
              "was trained with action_mode='structured', not 'direct'"),
             ([f"checkpoint={run_dir / 'model.zip'}", "env.kwargs.n_users=2"], "shape"),
             (["policy=bogus"], "policy must be one of")]
    for i, (args, words) in enumerate(cases):
        proc = _run("evaluate.py", "policy=checkpoint", *args, f"hydra.run.dir={tmp_path / str(i)}", check=False)
        assert proc.returncode == 2 and words in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert not (tmp_path / str(i)).exists()


def test_evaluate_takes_the_env_of_the_run(trained, tmp_path):
    """A run directory is a checkpoint (its newest model), and without env= the run's own env is evaluated: its id,
    its action mode and its max_episode_steps (50 in the run, 200 by default: the steps column shows 50)."""
    run_dir, _ = trained
    proc = _run("evaluate.py", "policy=all", f"checkpoint={run_dir}", "episodes=1", "progress_bar=false",
                f"hydra.run.dir={tmp_path / 'e'}")
    assert "ISAC-FIM-v0: 1 seeded scenario (seed 1000)" in proc.stdout and str(run_dir / "model.zip") in proc.stdout
    import csv

    rows = {r["policy"]: r for r in csv.DictReader((tmp_path / "e" / "evaluation.csv").open())}
    assert int(rows["checkpoint"]["steps"]) == 50 and int(rows["oracle"]["steps"]) == 1


def test_evaluate_oracle_table(tmp_path):
    proc = _run("evaluate.py", "env=fim", "policy=rigid", "episodes=1", "steps=2", "progress_bar=false",
                f"hydra.run.dir={tmp_path}")
    assert "rigid" in proc.stdout and "100%" in proc.stdout


def test_td3_trains(tmp_path):
    _run("train.py", "agent=td3", *SMALL, "total_timesteps=200", "eval_episodes=0", f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file()


@pytest.mark.parametrize("env", ["ris_slp", "ris_slp_doa"])
def test_train_ris_slp_compares_with_what_the_env_offers(tmp_path, env, monkeypatch):
    """Regression: the default comparison named FIM's ``rigid`` and failed after training."""
    _run("train.py", f"env={env}", "agent=td3", *SMALL, "total_timesteps=150", "eval_episodes=1", "eval_steps=2",
         "env.kwargs.n_elements=8", "env.kwargs.n_slots=6", f"hydra.run.dir={tmp_path}")
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    names = [r["policy"] for r in summary["summary"]]
    assert names[0] == "checkpoint" and "oracle" in names and "rigid" not in names
    assert ("no_ris" in names) == (env == "ris_slp")


@pytest.mark.parametrize("agent", ["sac", "ppo"])
def test_sac_and_ppo_train_on_the_native_vector_env(tmp_path, agent):
    extra = ["agent.n_steps=32", "agent.batch_size=32"] if agent == "ppo" else ["agent.learning_starts=50",
                                                                                "agent.buffer_size=1000"]
    _run("train.py", f"agent={agent}", "n_envs=4", "total_timesteps=256", "progress_bar=false", "eval_episodes=0",
         "env.max_episode_steps=20", *extra, f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file() and list((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_evaluate_renders_frames(tmp_path):
    _run("evaluate.py", "env=fim", "policy=random", "episodes=1", "steps=2", "render=true", "progress_bar=false",
         f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "frames" / "random_seed1000.png").is_file()


@pytest.mark.parametrize("agent", ["ddpg", "td3", "sac", "ppo"])
def test_train_sim_with_every_agent(tmp_path, agent):
    extra = ["agent.n_steps=32", "agent.batch_size=32"] if agent == "ppo" else [
        "agent.learning_starts=50", "agent.buffer_size=1000", "agent.batch_size=32"]
    evals = ["eval_episodes=1", "eval_steps=2"] if agent == "ddpg" else ["eval_episodes=0"]
    _run("train.py", "env=sim", f"agent={agent}", "total_timesteps=128", "progress_bar=false",
         "env.max_episode_steps=20", "env.kwargs.n_rows=5", "env.kwargs.n_cols=5", *evals, *extra,
         f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file() and list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    if agent == "ddpg":
        names = [r["policy"] for r in json.loads((tmp_path / "evaluation.json").read_text())["summary"]]
        assert names[0] == "checkpoint" and {"oracle", "comm_only", "sensing_only", "random"} <= set(names)


def test_evaluate_sim_policy_all_renders(tmp_path):
    proc = _run("evaluate.py", "env=sim", "policy=all", "episodes=1", "steps=2", "render=true", "progress_bar=false",
                "env.kwargs.n_rows=5", "env.kwargs.n_cols=5", f"hydra.run.dir={tmp_path}")
    for name in ("oracle", "comm_only", "sensing_only", "random"):
        assert name in proc.stdout
    assert list((tmp_path / "frames").glob("oracle_*.png"))


MFRIS_SMALL = ["env.kwargs.n_tx=4", "env.kwargs.n_elements_x=3", "env.kwargs.n_elements_z=2", "env.kwargs.n_users=2",
               "env.kwargs.n_users_reflection=1"]


@pytest.mark.parametrize("agent", ["ddpg", "td3", "sac", "ppo"])
def test_train_mfris_with_every_agent(tmp_path, agent):
    extra = ["agent.n_steps=32", "agent.batch_size=32"] if agent == "ppo" else [
        "agent.learning_starts=50", "agent.buffer_size=1000", "agent.batch_size=32"]
    evals = ["eval_episodes=1", "eval_steps=2"] if agent == "td3" else ["eval_episodes=0"]
    proc = _run("train.py", "env=mfris", f"agent={agent}", "total_timesteps=128", "progress_bar=false",
                "env.max_episode_steps=20", *MFRIS_SMALL, *evals, *extra, f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file() and list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    if agent == "td3":  # the slow SDR benchmark stays out of the default comparison, and says so
        names = [r["policy"] for r in json.loads((tmp_path / "evaluation.json").read_text())["summary"]]
        assert names[0] == "checkpoint" and {"oracle", "random", "random_coefficients"} <= set(names)
        assert "sdr" not in names and "leaves out sdr" in proc.stdout


@pytest.mark.parametrize("surface", ["mf", "star"])
def test_evaluate_mfris_policy_all_renders(tmp_path, surface):
    proc = _run("evaluate.py", "env=mfris", "policy=all", "episodes=1", "steps=2", "render=true", "progress_bar=false",
                f"env.kwargs.surface={surface}", *MFRIS_SMALL, f"hydra.run.dir={tmp_path}")
    for name in ("oracle", "sdr", "random", "random_coefficients"):
        assert name in proc.stdout
    assert list((tmp_path / "frames").glob("oracle_*.png"))


ET_SMALL = [f"env.kwargs.{k}={v}" for k, v in isac_gym.ENVIRONMENTS["ISAC-ET-v0"].small.items()]


@pytest.mark.parametrize("agent", ["ddpg", "ppo"])
def test_train_et(tmp_path, agent):
    extra = ["agent.n_steps=32", "agent.batch_size=32"] if agent == "ppo" else [
        "agent.learning_starts=50", "agent.buffer_size=1000", "agent.batch_size=32"]
    _run("train.py", "env=et", f"agent={agent}", "total_timesteps=96", "progress_bar=false", "eval_episodes=0",
         "env.max_episode_steps=20", *ET_SMALL, *extra, f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file() and list((tmp_path / "tb").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("problem", ["crb", "wim"])
def test_evaluate_et_policy_all_renders(tmp_path, problem):
    proc = _run("evaluate.py", "env=et", "policy=all", "episodes=1", "steps=2", "render=true", "progress_bar=false",
                f"env.kwargs.problem={problem}", *ET_SMALL, f"hydra.run.dir={tmp_path}")
    solver, other = ("sdr", "sca") if problem == "crb" else ("sca", "sdr")  # each problem's own solver only
    for name in ("oracle", solver, "pt_centric", "avg_coverage", "random"):
        assert name in proc.stdout
    assert f"\n{other} " not in proc.stdout
    assert list((tmp_path / "frames").glob("oracle_*.png"))


def test_periodic_bench_evaluation_hparams_and_bench_scoring_of_the_checkpoint(tmp_path, capsys):
    """``bench_every`` scores the policy on ISAC-Bench scenarios during training (eval/score, eval/feasible,
    eval/gap_to_oracle in TensorBoard); the hyper-parameters go to the HParams tab; the saved model is then scored
    by ``python -m isac_gym.bench run --checkpoint`` against the same anchors."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from isac_gym import bench
    from isac_gym.bench.__main__ import main as bench_main

    run_dir = tmp_path / "run"
    _run("train.py", "env=ris_slp", "agent=td3", "total_timesteps=300", "agent.learning_starts=100",
         "agent.buffer_size=2000", "agent.batch_size=32", "progress_bar=false", "env.max_episode_steps=20",
         "bench_every=100", "bench_episodes=2", "eval_episodes=0", "checkpoint_freq=100", f"hydra.run.dir={run_dir}")
    acc = EventAccumulator(str(next((run_dir / "tb").iterdir())))
    acc.Reload()
    for tag in ("eval/score", "eval/feasible", "eval/gap_to_oracle", "eval/ratio"):
        events = acc.Scalars(tag)
        assert events, tag
    score = acc.Scalars("eval/score")[-1].value
    assert acc.Scalars("eval/gap_to_oracle")[-1].value == pytest.approx(1.0 - score)
    # the last evaluation is of the policy at step 300, saved by the checkpoint callback in the same step (model.zip
    # holds one more gradient step): recomputed here from its final configurations and the anchors file
    import math

    import gymnasium as gym

    from agents.algorithms import load_model

    model = load_model(str(run_dir / "checkpoints" / "model_300_steps.zip"))
    anchors = {r["seed"]: r for r in json.loads((run_dir / "bench_references.json").read_text())["references"]}
    ratios, feasible = [], []
    for seed in (1000, 1001):
        env = gym.make("ISAC-RIS-SLP-v0", max_episode_steps=20)
        obs, _ = env.reset(seed=seed)
        for _ in range(20):
            obs, *_, info = env.step(model.predict(obs, deterministic=True)[0])
        a = anchors[seed]
        ratios.append((math.log(info["objective"]) - a["random"]) / (a["oracle"] - a["random"]))
        feasible.append(info["feasible"])
    assert acc.Scalars("eval/ratio")[-1].value == pytest.approx(sum(ratios) / 2, rel=1e-5, abs=1e-6)
    assert acc.Scalars("eval/feasible")[-1].value == pytest.approx(sum(feasible) / 2)
    assert score == pytest.approx(sum(r for r, f in zip(ratios, feasible, strict=True) if f) / 2, rel=1e-5, abs=1e-6)
    from tensorboard.plugins.hparams import plugin_data_pb2

    hp = {k: plugin_data_pb2.HParamsPluginData.FromString(v) for k, v in acc.PluginTagToContent("hparams").items()}
    start = hp["_hparams_/session_start_info"].session_start_info.hparams
    assert start["env"].string_value == "ISAC-RIS-SLP-v0" and start["agent.gamma"].number_value == 0.0
    assert start["seed"].number_value == 0 and start["env.w_qos"].number_value == 4.0
    assert [m.name.tag for m in hp["_hparams_/experiment"].experiment.metric_infos][:2] == ["eval/score",
                                                                                            "eval/feasible"]
    refs = json.loads((run_dir / "bench_references.json").read_text())
    assert [r["seed"] for r in refs["references"]] == [1000, 1001]

    out = tmp_path / "bench"
    (out / "references").mkdir(parents=True)
    shutil.copy(run_dir / "bench_references.json", out / "references" / "ISAC-RIS-SLP-v0.json")
    assert bench_main(["run", "--ids", "ISAC-RIS-SLP-v0", "--policies", "oracle", "--checkpoint",
                       f"td3={run_dir / 'model.zip'}", "--episodes", "2", "--out", str(out)]) == 0
    res = bench.load(out / "results" / "ISAC-RIS-SLP-v0" / "td3.json")
    assert res.kind == "agent" and [e.seed for e in res.episodes] == [1000, 1001]
    # the checkpoint carries its env: the direct and incremental modes have the same shapes, yet another mode (or
    # another id) is refused by name
    for argv, words in ((["--ids", "ISAC-RIS-SLP-v0", "--env-kwargs", "action_mode=incremental"],
                         "was trained with action_mode='structured', not 'incremental'"),
                        (["--ids", "ISAC-FIM-v0"], "which --ids leaves out")):
        assert bench_main(["run", *argv, "--policies", "none", "--checkpoint", f"td3={run_dir}", "--episodes", "1",
                           "--out", str(out)]) == 2
        assert words in capsys.readouterr().err

    # the figures command draws the run's learning curve from its event files and the model as a series
    fig = tmp_path / "fig"
    assert bench_main(["figures", "--only", "ris_slp_sinr_vs_power", "--points", "1", "--seeds", "1", "--agent",
                       str(run_dir / "model.zip"), "--runs", str(tmp_path), "--out", str(fig),
                       "--work", str(tmp_path / "work")]) == 0
    text = (fig / "figures.md").read_text()
    assert "| agent (td3) |" in text and (fig / f"learning_curves_{tmp_path.name}.png").is_file()
    (row,) = [line for line in text.splitlines() if line.startswith("| ISAC-RIS-SLP-v0 | td3 |")]
    assert f"| 300 | {score:.2f} (" in row


def test_the_evaluation_table_scores_as_isac_bench(tmp_path):
    """One meaning of "score": the table's and evaluation.json's score is ISAC-Bench's (the oracle 1, an infeasible
    answer 0), with the objective ratio beside it and the final configuration's cost; the reward's objective term
    is not in the table."""
    _run("evaluate.py", "env=sim", "policy=all", "episodes=1", "steps=3", "progress_bar=false",
         f"hydra.run.dir={tmp_path}")
    rows = {r["policy"]: r for r in json.loads((tmp_path / "evaluation.json").read_text())["summary"]}
    # the anchors' oracle solve and the evaluated one are two runs of a local method: equal to within a few per cent
    assert rows["oracle"]["score_mean"] == pytest.approx(1.0, abs=0.03)
    ignoring_users = rows["sensing_only"]
    assert ignoring_users["feasible_rate"] == 0 and ignoring_users["score_mean"] == 0.0
    assert ignoring_users["ratio_mean"] > 1.0 and ignoring_users["cost_mean"] > 0  # a better objective, broken QoS
    assert rows["comm_only"]["cost_mean"] == 0.0 and 0 < rows["comm_only"]["score_mean"] < 1


def test_the_table_keeps_its_columns_with_long_names_and_says_what_the_agent_did():
    from agents.evaluation import format_table, scenarios_phrase, verdict

    def row(policy, objective, feasible=1.0, score=0.5):
        return {"policy": policy, "episodes": 1, "objective_mean": objective, "objective_std": 0.0,
                "objective_median": objective, "score_mean": score, "ratio_mean": score, "reward_mean": 0.0,
                "feasible_rate": feasible, "cost_mean": 0.0, "episode_cost_mean": 0.0, "violation_mean": {"qos": 0.0},
                "status_counts": {"acted": 1}, "sinr_min_db_mean": 1.0, "rate_sum_mean": 1.0, "decision_ms": 1.0,
                "solve_s_per_scenario": 1.0}

    rows = [row("checkpoint", 2.0), row("random_coefficients", 1.0), row("oracle", 3.0, score=1.0)]
    lines = format_table(rows, "echo").splitlines()
    columns = [line.split() for line in lines[2:]]
    assert [c[1] for c in columns] == ["2", "1", "3"]  # the objective column follows every name, however long
    starts = [lines[2 + i].index(c[1], len(c[0])) + len(c[1]) for i, c in enumerate(columns)]
    assert set(starts) == {lines[0].index("echo mean") + len("echo mean")}  # right-aligned under its header
    text = verdict(rows, "echo", maximise=True)
    assert "It beats random_coefficients (1)" in text and "It is behind oracle (3)" in text
    assert "feasible on 100% of the scenarios" in text and verdict(rows[1:], "echo", True) == ""
    assert scenarios_phrase(1, 1000) == "1 seeded scenario (seed 1000)"
    assert scenarios_phrase(5, 1000) == "5 seeded scenarios (seeds 1000-1004)"
