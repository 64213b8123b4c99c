"""Benchmark: wall time of the end-to-end commands (one run each, warm bytecode cache).

* ``cityplan build --overwrite`` (issue 2: "under 60 s on this machine");
* ``cityplan run --overwrite`` (the README's main job);
* ``cityplan report --district 南岗区`` with every coverage preset (issue 7).

    python benchmarks/bench_pipeline.py [--out results.json]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "build": ["build", "--overwrite", "--format", "csv"],
    "run": ["run", "--overwrite"],
    "report_one_district_all_presets": ["report", "--district", "南岗区", "--overwrite"],
}


def wall(args: list[str], out: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    extra = ["--out", out] if args[0] == "report" else []
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cityplan", *args, *extra], check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def main() -> None:
    subprocess.run([sys.executable, "-m", "cityplan", "--help"], check=True, capture_output=True)  # warm pyc
    with tempfile.TemporaryDirectory() as d:
        times = {name: round(wall(args, d), 1) for name, args in COMMANDS.items()}
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "python": platform.python_version(), "seconds": times}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if "--out" in sys.argv:
        Path(sys.argv[sys.argv.index("--out") + 1]).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
