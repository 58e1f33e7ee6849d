"""`--warm-start RUN`: a new search begins with an earlier search's trials of the same task and
space, so TPE starts from what worked before (on new data, say) instead of from nothing.

The earlier run is read as data only: its faceauth-search.json (task, objective, space) and its
trials.parquet (each trial's hyperparameters and best value); nothing pickled is loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.tuning.space import SearchSpace
from faceauth.tuning.storage import SETTINGS_FILE, read_settings, search_settings


def warm_start_trials(run: str | Path, task: str, space: SearchSpace) -> tuple[tuple[dict, float, str], ...]:
    """(params encoded as the param space encodes them, value, "run/trial") of every trial of `run`
    that reported a value; refused, naming what differs, for another task, objective or space."""
    run = Path(run).expanduser().resolve()
    table_path = run / "trials.parquet"
    recorded = read_settings(str(run)) if run.is_dir() else None
    if recorded is None or not table_path.is_file():
        raise FaceauthError(f"--warm-start: {run} is not a finished faceauth search (it needs {SETTINGS_FILE} and "
                            "trials.parquet); pass the folder of an earlier run, e.g. runs/<name>")
    current = json.loads(json.dumps(search_settings(task, 0, space, {}, ())))
    differ = [key for key in ("task", "metric", "mode", "parameters") if recorded.get(key) != current.get(key)]
    if differ:
        raise FaceauthError(f"--warm-start: {run} searched another {' and '.join(differ)}; a warm start needs the same "
                            "task, objective and search space (the data may differ)")
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(table_path).to_pylist()
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise FaceauthError(f"--warm-start: {table_path} is unreadable ({err})") from None
    trials = []
    for row in rows:
        value = row.get(f"best_{space.metric}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue  # failed or never started
        # A parameter inactive in a trial is empty in its row; the trial counts with its active ones only.
        decoded = {name: p.decode(row[f"param_{name}"]) for name, p in space.parameters.items()
                   if row.get(f"param_{name}") is not None}
        active = space.active(decoded)
        missing = [n for n, p in space.parameters.items() if n not in active and p.active_under(active)]
        if active == decoded and not missing and all(space.parameters[n].contains(v) for n, v in decoded.items()):
            trials.append(({n: space.parameters[n].encode(v) for n, v in decoded.items()}, float(value),
                           f"{run.name}/{row.get('trial_name') or row.get('trial_id')}"))
    if not trials:
        raise FaceauthError(f"--warm-start: {table_path} has no trial with a {space.metric} value to start from")
    return tuple(trials)
