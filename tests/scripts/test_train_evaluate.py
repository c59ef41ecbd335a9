"""Smoke runs of train.py and evaluate.py: real SB3 training, event files, tables, error handling."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["total_timesteps=300", "agent.learning_starts=100", "agent.buffer_size=2000", "agent.batch_size=32",
         "progress_bar=false", "env.max_episode_steps=50"]


def _run(script, *args, cwd=ROOT, check=True, timeout=600):
    proc = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddpg")
    proc = _run("train.py", "env=fim", "agent=ddpg", *SMALL, "eval_episodes=1", "eval_steps=5",
                "eval_policies=[checkpoint,rigid,random]", f"hydra.run.dir={run_dir}")
    return run_dir, proc


def test_train_writes_model_events_config_and_table(trained):
    run_dir, proc = trained
    assert (run_dir / "model.zip").is_file() and (run_dir / "replay_buffer.pkl").is_file()
    assert list((run_dir / "tb").rglob("events.out.tfevents.*"))
    cfg = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "ISAC-FIM-v0" in cfg and "actor_learning_rate" in cfg
    assert "checkpoint" in proc.stdout and "rigid" in proc.stdout and "crb mean" in proc.stdout
    summary = json.loads((run_dir / "evaluation.json").read_text())["summary"]
    assert [r["policy"] for r in summary] == ["checkpoint", "rigid", "random"]


def test_event_files_hold_metrics_and_reward_terms(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = trained
    acc = EventAccumulator(str(next((run_dir / "tb").iterdir())))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("isac/crb", "isac/sinr_min_db", "isac/score", "isac/violation_qos", "isac/violation_position",
                "reward/objective", "reward/qos", "reward/position", "reward/power"):
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
    resumed = tmp_path / "resumed"
    _run("train.py", *SMALL, "total_timesteps=400", f"resume={run_dir / 'model.zip'}", "eval_episodes=0",
         f"hydra.run.dir={resumed}")
    from agents.algorithms import DDPG

    assert DDPG.load(resumed / "model.zip", device="cpu").num_timesteps == 400


def test_evaluate_missing_or_incompatible_checkpoint_fails_cleanly(trained, tmp_path):
    proc = _run("evaluate.py", "policy=checkpoint", f"checkpoint={tmp_path / 'nope.zip'}",
                f"hydra.run.dir={tmp_path / 'x'}", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "checkpoint not found" in proc.stderr
    run_dir, _ = trained  # trained in paper mode: its spaces do not fit the direct mode
    proc = _run("evaluate.py", "policy=checkpoint", f"checkpoint={run_dir / 'model.zip'}",
                "env.kwargs.action_mode=direct", f"hydra.run.dir={tmp_path / 'y'}", check=False)
    assert proc.returncode == 2 and "shape" in proc.stderr and proc.stderr.strip().count("\n") == 0


def test_evaluate_oracle_table(tmp_path):
    proc = _run("evaluate.py", "env=fim", "policy=rigid", "episodes=1", "steps=2", "progress_bar=false",
                f"hydra.run.dir={tmp_path}")
    assert "rigid" in proc.stdout and "100%" in proc.stdout


def test_td3_trains(tmp_path):
    _run("train.py", "agent=td3", *SMALL, "total_timesteps=200", "eval_episodes=0", f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file()


def test_train_and_evaluate_ris_slp(tmp_path):
    _run("train.py", "env=ris_slp", "agent=td3", *SMALL, "total_timesteps=200", "eval_episodes=1",
         "eval_policies=[checkpoint,no_ris,random]", "eval_steps=3", f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "model.zip").is_file()
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert summary["objective"] == "radar_sinr" and len(summary["summary"]) == 3


def test_sigterm_saves_the_model(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *SMALL, "total_timesteps=100000",
                             "eval_episodes=0", f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "tb").rglob("events.out.tfevents.*")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert (tmp_path / "model.zip").is_file() and "stopped early" in out


def test_joblib_sweep(tmp_path):
    _run("train.py", "-m", "seed=0,1", *SMALL, "total_timesteps=150", "eval_episodes=0", "hydra/launcher=joblib",
         "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}")
    assert len(list(tmp_path.rglob("model.zip"))) == 2
