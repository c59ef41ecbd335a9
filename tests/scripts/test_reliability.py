"""Nothing a run does is lost: signals and hard kills resume, hostile command lines fail in one line, sweeps run on
Hydra's launchers and write a summary, the same seed gives the same policy and the same tables."""

import csv
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agents.sweep import last_logged_step
from tests.scripts.test_train_evaluate import ROOT, _run

#: A FIM run that checkpoints every 100 steps and would take minutes: long enough to be interrupted.
LONG = ["env=fim", "agent=ddpg", "total_timesteps=100000", "agent.learning_starts=50", "agent.buffer_size=20000",
        "agent.batch_size=16", "agent.net_arch=[32,32]", "env.max_episode_steps=50", "checkpoint_freq=100",
        "eval_episodes=0", "progress_bar=false"]
TINY = ["total_timesteps=120", "agent.learning_starts=60", "agent.buffer_size=500", "agent.batch_size=16",
        "agent.net_arch=[32,32]", "env.max_episode_steps=20", "eval_episodes=0", "progress_bar=false"]


def _start_and_wait_for_checkpoints(run_dir: Path, count: int = 1) -> subprocess.Popen:
    """Start a long training run; return once ``count`` periodic checkpoints (with their buffers) exist."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *LONG, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 180
    while time.time() < deadline:
        done = list((run_dir / "checkpoints").glob("model_replay_buffer_*_steps.pkl"))
        if len(done) >= count:
            break
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        time.sleep(0.2)
    time.sleep(1.0)  # let the next checkpoint's files be complete before any signal
    return proc


def _steps_saved(out: str) -> int:
    return int(re.search(r"after (\d+) steps", out).group(1))


def _event_steps(tb_dir: Path) -> list[list[int]]:
    """The scalar steps of each event file, oldest file first."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    files = sorted(tb_dir.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    out = []
    for path in files:
        steps = []
        try:
            for event in EventFileLoader(str(path)).Load():
                if event.HasField("summary"):
                    steps.append(int(event.step))
        except Exception:
            pass
        out.append(steps)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_everything_and_resume_continues_the_same_run(tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = _start_and_wait_for_checkpoints(run_dir)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, out  # 143 / 130 as shells report a job ended by a signal
    stopped = _steps_saved(out)
    assert "stopped early by a signal" in out and stopped >= 100
    assert (run_dir / "model.zip").is_file() and (run_dir / "replay_buffer.pkl").is_file()
    before = _event_steps(run_dir / "tb")

    proc = _run("train.py", f"resume={run_dir}", f"total_timesteps={stopped + 150}")
    assert f"continuing the run in {run_dir}" in proc.stdout
    restored = re.search(r"replay buffer restored from .*replay_buffer.pkl \((\d+) transitions\)", proc.stdout)
    # every transition came back (SB3 stops before storing the transition of the step that saw the signal)
    assert restored and stopped - 1 <= int(restored.group(1)) <= stopped, proc.stdout
    from agents.algorithms import DDPG

    model = DDPG.load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps == stopped + 150  # the step count continued
    model.predict(np.zeros(model.observation_space.shape, np.float32), deterministic=True)
    assert [p.name for p in (run_dir / "tb").iterdir()] == ["run_1"]  # one TensorBoard run, not a second one
    after = _event_steps(run_dir / "tb")
    new = [s for steps in after[len(before):] for s in steps]
    assert new and min(new) > stopped - 50, (stopped, new[:5])  # the curve continues; it does not restart at 0
    assert not (tmp_path / "outputs").exists()


def test_a_hard_kill_resumes_from_the_last_checkpoint_and_says_what_was_lost(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start_and_wait_for_checkpoints(run_dir, count=2)
    time.sleep(2.0)
    proc.kill()  # SIGKILL: no clean save
    proc.communicate(timeout=60)
    assert not (run_dir / "model.zip").exists()
    from agents.callbacks import checkpoint_steps

    last = max(checkpoint_steps(p) for p in (run_dir / "checkpoints").glob("model_*_steps.zip"))
    logged = last_logged_step(run_dir / "tb")
    proc = _run("train.py", f"resume={run_dir}", f"total_timesteps={last + 100}")
    assert f"from model_{last}_steps.zip" in proc.stdout, proc.stdout
    if logged is not None and logged > last:
        assert f"{logged - last} steps were lost" in proc.stdout, proc.stdout
    assert re.search(rf"replay buffer restored from .*model_replay_buffer_{last}_steps.pkl", proc.stdout)
    assert f"after {last + 100} steps" in proc.stdout
    # checkpoints stay on the run's multiples of checkpoint_freq (100), across the resume
    assert (run_dir / "checkpoints" / f"model_{last + 100}_steps.zip").is_file()


def _foreign_checkpoints(tmp_path: Path) -> dict[str, Path]:
    """A corrupt archive, a PPO model (another algorithm) and a DDPG model of RIS-SLP (another env's spaces),
    each placed as a checkpoint of a FIM DDPG run."""
    import gymnasium as gym
    from stable_baselines3 import DDPG, PPO

    import isac_gym  # noqa: F401

    run_dir = tmp_path / "fim"
    _run("train.py", "env=fim", "agent=ddpg", *TINY, f"hydra.run.dir={run_dir}")
    ckpt = run_dir / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    corrupt = ckpt / "model_7_steps.zip"
    corrupt.write_bytes(b"not a zip archive at all")
    other_algo = ckpt / "model_8_steps.zip"
    PPO("MlpPolicy", gym.make("ISAC-FIM-v0"), n_steps=8, batch_size=8, policy_kwargs={"net_arch": [8]},
        device="cpu").save(other_algo)
    other_env = ckpt / "model_9_steps.zip"
    ris = gym.make("ISAC-RIS-SLP-v0", n_elements=8, n_slots=6)
    DDPG("MlpPolicy", ris, policy_kwargs={"net_arch": [8]}, device="cpu").save(other_env)
    return {"corrupt": corrupt, "algorithm": other_algo, "spaces": other_env}


@pytest.mark.slow
def test_hostile_command_lines_fail_in_one_line(tmp_path):
    bad = _foreign_checkpoints(tmp_path)
    cases = [
        ("train.py", ["env=bogus"], "env/bogus"),
        ("train.py", ["agent=bogus"], "agent/bogus"),
        ("train.py", ["total_timesteps=-1"], "total_timesteps"),
        ("train.py", ["n_envs=-4"], "n_envs"),
        ("train.py", ["checkpoint_freq=0"], "checkpoint_freq"),
        ("train.py", ["agent.batch_size=abc"], "batch_size"),
        ("train.py", ["eval_policies=[checkpoint,bogus]"], "bogus"),
        ("train.py", ["env.kwargs.p_max_dbm=nan"], "p_max_dbm"),
        ("train.py", [f"resume={tmp_path / 'missing.zip'}"], "not found"),
        ("train.py", [f"resume={bad['corrupt']}"], "is not a ddpg model"),
        ("train.py", [f"resume={bad['algorithm']}"], "is not a ddpg model"),
        ("train.py", [f"resume={bad['spaces']}"], "is not a ddpg model"),
        ("evaluate.py", ["env=bogus"], "env/bogus"),
        ("evaluate.py", ["policy=bogus"], "policy must be one of"),
        ("evaluate.py", ["episodes=-3"], "episodes"),
        ("evaluate.py", ["policy=checkpoint", f"checkpoint={bad['corrupt']}"], "not an SB3 model archive"),
        ("evaluate.py", ["policy=checkpoint", f"checkpoint={bad['spaces']}"], "shape"),
        ("evaluate.py", ["env=ris_slp", "policy=checkpoint", f"checkpoint={bad['algorithm']}"],
         "was trained on ISAC-FIM-v0, not ISAC-RIS-SLP-v0"),
    ]
    for script, args, words in cases:
        proc = _run(script, *args, f"hydra.run.dir={tmp_path / 'x'}", "progress_bar=false", check=False)
        err = proc.stderr.strip()
        assert proc.returncode != 0, (script, args, proc.stdout[-500:])
        assert err.startswith("error:") and err.count("\n") == 0 and words in err, (script, args, err)
        assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("script", ["train.py", "evaluate.py"])
def test_the_task_function_pickles_as_the_process_launchers_pickle_it(script):
    """joblib and submitit pickle the task function with cloudpickle; one defined in ``__main__`` goes by value,
    with every module its code reaches (the slow sweeps below run them; this catches it in seconds)."""
    import runpy

    import cloudpickle

    namespace = runpy.run_path(str(ROOT / script), run_name="launched_task")  # not in sys.modules: by value
    restored = cloudpickle.loads(cloudpickle.dumps(namespace["main"]))
    assert callable(restored)


@pytest.mark.slow
def test_the_issue_sweep_runs_in_parallel_on_joblib_and_writes_a_summary(tmp_path):
    proc = _run("train.py", "-m", "env=fim,ris_slp", "agent=ddpg,td3", "seed=0,1", *TINY, "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}")
    jobs = [p.parent for p in tmp_path.rglob("metrics.json")]
    assert len(jobs) == 8, proc.stdout[-2000:]
    for job in jobs:  # every job's run dir is complete
        assert (job / "model.zip").is_file() and (job / ".hydra" / "config.yaml").is_file()
        assert list((job / "tb").rglob("events.out.tfevents.*"))
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert len(rows) == 8 and {r["status"] for r in rows} == {"completed"}
    assert {(r["env"], r["agent"], r["seed"]) for r in rows} == {
        (e, a, s) for e in ("ISAC-FIM-v0", "ISAC-RIS-SLP-v0") for a in ("ddpg", "td3") for s in ("0", "1")}
    assert all(int(r["steps"]) == 120 for r in rows)


@pytest.mark.slow
def test_submitit_local_runs_the_slurm_style_sweep(tmp_path):
    _run("train.py", "-m", "seed=0,1", *TINY, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
         "hydra.launcher.cpus_per_task=1", f"hydra.sweep.dir={tmp_path}")
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert sorted(r["seed"] for r in rows) == ["0", "1"] and all((tmp_path / r["job"] / "model.zip").is_file()
                                                                  for r in rows)


def test_the_slurm_preset_composes():
    proc = _run("train.py", "hydra/launcher=slurm", "hydra.launcher.partition=cpu", "--cfg", "hydra",
                "--package", "hydra.launcher")
    for key in ("partition: cpu", "timeout_min:", "cpus_per_task:", "gpus_per_node: 0", "array_parallelism:"):
        assert key in proc.stdout, proc.stdout


@pytest.mark.slow
def test_the_same_seed_trains_the_same_policy_and_gives_the_same_tables(tmp_path):
    import torch

    runs = []
    for name in ("a", "b"):
        _run("train.py", "env=fim", "agent=td3", *TINY, "total_timesteps=160", "seed=3", f"hydra.run.dir={tmp_path / name}")
        runs.append(torch.load(_extract(tmp_path / name), weights_only=True))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    tables = []
    for name in ("e1", "e2"):
        _run("evaluate.py", "env=fim", "policy=all", f"checkpoint={tmp_path / 'a' / 'model.zip'}", "episodes=1",
             "steps=3", "progress_bar=false", f"hydra.run.dir={tmp_path / name}")
        rows = list(csv.DictReader((tmp_path / name / "evaluation.csv").open()))
        tables.append([{k: v for k, v in r.items() if k not in ("decision_ms", "solve_s")} for r in rows])
    assert tables[0] == tables[1]


def _extract(run_dir: Path) -> Path:
    with zipfile.ZipFile(run_dir / "model.zip") as z:
        z.extract("policy.pth", run_dir)
    return run_dir / "policy.pth"


def test_resume_through_the_latest_link_continues_that_run(tmp_path):
    """Regression: ``resume=outputs/latest`` (the README's form) trained, then crashed with 'Too many levels of
    symbolic links' and left the link pointing at itself. Also: no empty job log in the run directory."""
    _run("train.py", *TINY, cwd=tmp_path)
    latest = tmp_path / "outputs" / "latest"
    run_dir = latest.resolve()
    proc = _run("train.py", "resume=outputs/latest", "total_timesteps=180", cwd=tmp_path)
    assert f"continuing the run in {run_dir}" in proc.stdout
    assert latest.resolve() == run_dir and (run_dir / "model.zip").is_file()
    from agents.algorithms import TD3

    assert TD3.load(run_dir / "model.zip", device="cpu").num_timesteps == 180
    assert not list(run_dir.glob("*.log"))


def test_an_on_policy_rollout_larger_than_the_budget_is_fitted_to_it(tmp_path):
    """Regression: ``agent=ppo n_envs=64 total_timesteps=8192`` ran 16384 steps silently."""
    proc = _run("train.py", "agent=ppo", "n_envs=8", "total_timesteps=96", "eval_episodes=0", "progress_bar=false",
                "env.max_episode_steps=20", f"hydra.run.dir={tmp_path / 'run'}")
    assert "n_steps set to 12" in proc.stdout
    import json

    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 96
