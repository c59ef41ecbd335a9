"""Each id is declared once, in its env module: a seventh id needs its env module and its Hydra env file, and
every table, benchmark and tool of the suite picks it up."""

import shutil
import subprocess
import sys
from pathlib import Path

import isac_gym
from isac_gym.registration import Registration

ROOT = Path(__file__).resolve().parents[1]

TOY_MODULE = '''"""A seventh id for the test: FIM's system under another id and size."""
from ..registration import Registration
from .fim import FIMEnv, FIMVectorEnv

REGISTRATIONS = (
    Registration("ISAC-TOY-v0", FIMEnv, FIMVectorEnv, max_episode_steps=7, config_name="toy",
                 kwargs={"n_users": 2, "n_tx_x": 2, "n_tx_z": 2}, small={"n_rx_x": 2, "n_rx_z": 2},
                 learning_steps=123),
)
'''
TOY_CONFIG = """defaults:
  - /schema/env@_here_: ISAC-TOY-v0
  - _self_
"""
CHECK = """
import gymnasium as gym, isac_gym
from hydra import compose, initialize_config_dir
from agents.cli import CONF
from agents.config import register
from benchmarks import learn, soak
from isac_gym.bench import protocol
from isac_gym.bench.__main__ import main

reg = isac_gym.ENVIRONMENTS["ISAC-TOY-v0"]
env = gym.make("ISAC-TOY-v0")
assert env.spec.max_episode_steps == 7 and env.unwrapped.system.params.n_users == 2
assert "ISAC-TOY-v0" in protocol.IDS
assert ("ISAC-TOY-v0", {}) in soak.cases() and ("ISAC-TOY-v0", {"action_mode": "direct"}) in soak.cases()
register()
with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
    cfg = compose("config", overrides=["env=toy"])
assert cfg.env.id == "ISAC-TOY-v0" and cfg.env.kwargs.n_users == 2 and cfg.env.max_episode_steps == 7
env_cfg, agent = learn.compose("toy", [])
assert env_cfg["id"] == "ISAC-TOY-v0" and agent["gamma"] == 0.99  # FIM's structured mode moves a state (the shapes)
assert main(["run", "--ids", "ISAC-TOY-v0", "--policies", "rigid", "--episodes", "1", "--out", "bench"]) == 0
print("ok")
"""


def test_every_registered_id_comes_from_its_env_module():
    assert list(isac_gym.ENVIRONMENTS) == sorted(isac_gym.ENVIRONMENTS)
    for env_id, reg in isac_gym.ENVIRONMENTS.items():
        assert isinstance(reg, Registration) and reg.env_id == env_id
        module = __import__(reg.env_class.__module__, fromlist=["REGISTRATIONS"])
        assert reg in module.REGISTRATIONS
        assert (ROOT / "conf" / "env" / f"{reg.config_name}.yaml").is_file()


def test_a_seventh_id_is_its_env_module_and_its_hydra_file(tmp_path):
    """A copy of the repository with one more env module and one more Hydra env file: the id is registered, listed
    by ISAC-Bench and the soak benchmark, composed by Hydra (train.py env=toy), budgeted by the learnability
    benchmark and scored by the bench, with no other file touched."""
    copy = tmp_path / "repo"
    for part in ("isac_gym", "agents", "benchmarks", "conf"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "isac_gym" / "envs" / "toy.py").write_text(TOY_MODULE)
    (copy / "conf" / "env" / "toy.yaml").write_text(TOY_CONFIG)
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=copy, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
