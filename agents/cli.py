"""One-line errors for the scripts' command lines: the config is composed and checked once before Hydra runs
the job (and before the scripts' heavy imports), so a bad group choice (``env=bogus``), a badly typed value
(``agent.batch_size=abc``), an out-of-range value (``total_timesteps=-1``) or a bad env argument
(``env.kwargs.p_max_dbm=nan``) ends the run in about a second with ``error: ...`` on stderr and exit status 2,
not Hydra's multi-line report or a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _one_line(exc: BaseException) -> str:
    text = _first_line(exc)
    options = getattr(exc, "options", None)
    if options:
        return f"{text}; available: {', '.join(sorted(options))}"
    if exc.__cause__ is not None:
        text += f": {_first_line(exc.__cause__)}"
    return text


def precheck(config_name: str, argv: list[str] | None = None) -> None:
    """Compose ``config_name`` with the command line's overrides; exit 2 with one line if that fails.

    Command lines with flags (``-m`` sweeps, ``--info``, ``--cfg``, ...) are left to Hydra, whose sweep
    syntax a plain composition does not accept.
    """
    args = sys.argv[1:] if argv is None else argv
    if any(arg.startswith("-") for arg in args):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from agents.config import SCHEMAS, check_values

    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name=config_name):
            cfg = compose(config_name=config_name, overrides=args, return_hydra_config=True)
        # a resumed run, or an evaluation of a saved run, takes its env from the run
        check_values(cfg, SCHEMAS[config_name], with_env=not (cfg.get("resume") or cfg.get("checkpoint")))
    except Exception as exc:  # Hydra's and OmegaConf's composition errors, out-of-range values
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    finally:
        GlobalHydra.instance().clear()
