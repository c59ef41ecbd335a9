"""Lagrangian agents: the PID multiplier's update, the re-priced replay buffer, and train.py's runs with them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from agents.lagrangian import OBJECTIVE_REWARD, LagrangianReplayBuffer, PIDLagrangian, attach, state_path
from tests.scripts.test_train_evaluate import SMALL, _run


def _pid(**kw):
    args = {"constraints": ("qos",), "cost_limit": 0.1, "kp": 0.5, "ki": 1.0, "kd": 0.0, "lambda_init": 2.0} | kw
    return PIDLagrangian(**args)


def test_the_multiplier_starts_at_its_initial_value_rises_above_the_limit_and_falls_below_it():
    pid = _pid()
    assert pid.multipliers.tolist() == [2.0]
    rising = [pid.update([0.5])[0] for _ in range(5)]  # cost 0.4 above the limit: I grows by 0.4 per update
    assert all(b > a for a, b in zip([2.0, *rising], rising, strict=False))
    # written out: I = 2 + 0.4 k, lambda = 0.5 * 0.4 + I
    assert rising == pytest.approx([0.2 + 2.0 + 0.4 * k for k in range(1, 6)])
    falling = [pid.update([0.0])[0] for _ in range(5)]  # 0.1 below the limit: I shrinks by 0.1 per update
    assert all(b < a for a, b in zip([rising[-1], *falling], falling, strict=False))
    assert falling[-1] == pytest.approx(-0.05 + 4.0 - 0.5)
    for _ in range(100):  # never negative
        pid.update([0.0])
    assert pid.multipliers.tolist() == [0.0]


def test_the_derivative_term_reacts_to_a_rising_cost_only():
    pid = _pid(kp=0.0, ki=0.0, kd=1.0, lambda_init=0.0)
    assert pid.update([0.3])[0] == pytest.approx(0.3)  # from 0 to 0.3
    assert pid.update([0.5])[0] == pytest.approx(0.2)
    assert pid.update([0.2])[0] == 0.0  # a falling cost adds nothing


def test_each_constraint_has_its_own_multiplier_and_the_state_round_trips(tmp_path):
    pid = _pid(constraints=("qos", "coverage"))
    pid.update([0.5, 0.0])
    assert pid.multipliers[0] > 2.0 > pid.multipliers[1]
    assert pid.penalty(np.array([[1.0, 2.0]])) == pytest.approx([pid.multipliers[0] + 2 * pid.multipliers[1]])
    pid.save(tmp_path / "l.json")
    other = _pid(constraints=("qos", "coverage"))
    other.load(tmp_path / "l.json")
    assert other.state() == pid.state()
    with pytest.raises(ValueError, match="constraints"):
        _pid().load(tmp_path / "l.json")


@pytest.mark.parametrize("name", ["cost_limit", "kp", "ki", "kd", "lambda_init"])
def test_bad_settings_are_refused_naming_them(name):
    with pytest.raises(ValueError, match=f"agent.lagrangian.{name}"):
        _pid(**{name: -1.0})


def test_checkpoint_files_name_their_multipliers():
    assert state_path(Path("run/model.zip")) == Path("run/lagrangian.json")
    assert state_path(Path("run/checkpoints/model_400_steps.zip")) == Path(
        "run/checkpoints/model_400_steps.lagrangian.json")


def test_the_replay_buffer_prices_every_transition_with_the_current_multipliers():
    box = spaces.Box(-1, 1, (2,), np.float32)
    buffer = LagrangianReplayBuffer(16, box, box, device="cpu", n_envs=1)
    pid = _pid(constraints=("qos", "power"), lambda_init=1.0)

    class Model:
        replay_buffer = buffer

    attach(Model, pid)
    objective, costs = np.array([0.5, 0.2, 0.9]), np.array([[0.1, 0.0], [0.0, 0.0], [0.3, 0.2]])
    for r, c in zip(objective, costs, strict=True):
        info = {OBJECTIVE_REWARD: r, "costs": {"qos": c[0], "power": c[1]}}
        buffer.add(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), np.array([-99.0]), np.array([False]),
                   [info])
    np.testing.assert_allclose(buffer.rewards[:3, 0], objective - costs.sum(axis=1), rtol=1e-6)
    pid.update([0.6, 0.0])  # qos's multiplier rises, power's falls
    batch = buffer.sample(64)
    expected = objective - costs @ pid.multipliers
    np.testing.assert_allclose(buffer.rewards[:3, 0], expected, rtol=1e-6)
    assert set(np.round(batch.rewards.numpy().ravel(), 5)) <= set(np.round(expected.astype(np.float32), 5))


@pytest.fixture(scope="module")
def lagrangian_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("td3lag")
    proc = _run("train.py", "env=sim", "agent=td3", "agent.lagrangian.enabled=true", "env.kwargs.action_mode=direct",
                *SMALL, "env.max_episode_steps=25", "checkpoint_freq=100", "eval_episodes=1", "eval_steps=5",
                "eval_policies=[checkpoint,random]", f"hydra.run.dir={run_dir}")
    return run_dir, proc


def test_a_lagrangian_run_trains_on_the_objective_and_saves_its_multipliers(lagrangian_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, proc = lagrangian_run
    assert "reward_mode: objective" in (run_dir / ".hydra" / "config.yaml").read_text()
    state = json.loads((run_dir / "lagrangian.json").read_text())
    assert state["constraints"] == ["qos"] and state["version"] == 300 // 25  # one update per episode
    assert state["multipliers"][0] != 1.0
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.lagrangian.json")) == [
        "model_200_steps.lagrangian.json", "model_300_steps.lagrangian.json"]
    assert json.loads((run_dir / "metrics.json").read_text())["lagrange"] == {"qos": state["multipliers"][0]}
    acc = EventAccumulator(str(next((run_dir / "tb").iterdir())))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("lagrange/qos", "cost/qos", "cost/total", "cost/episode_qos", "reward/objective_score"):
        assert tag in tags, tag
    assert "reward/qos" not in tags  # the constraint is in the cost, not in the reward
    rows = json.loads((run_dir / "evaluation.json").read_text())["summary"]
    for row in rows:  # the final configuration's cost beside the score: 0 exactly when feasible
        assert row["cost_mean"] >= 0 and (row["cost_mean"] == 0) == (row["feasible_rate"] == 1)
    assert "cost" in proc.stdout.split("\n---")[0]


def test_a_resumed_lagrangian_run_continues_with_its_saved_multipliers(lagrangian_run, tmp_path):
    run_dir = Path(shutil.copytree(lagrangian_run[0], tmp_path / "copy"))
    ckpt = run_dir / "checkpoints" / "model_200_steps.zip"
    saved = json.loads(state_path(ckpt).read_text())
    proc = _run("train.py", f"resume={ckpt}", "total_timesteps=250", "eval_episodes=0", "progress_bar=false")
    assert "Lagrange multipliers restored from model_200_steps.lagrangian.json" in proc.stdout
    state = json.loads((run_dir / "lagrangian.json").read_text())
    assert state["version"] == saved["version"] + 2  # 50 more steps: two more episodes of 25
