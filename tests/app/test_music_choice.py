"""Without `HEARTSONG_RAY_ADDRESS` the studio makes music with this computer's pipeline and never imports Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from pathlib import Path
from app.settings import load_settings
from app.studio.engines import PipelineMusicMaker
from app.studio.service import Studio
studio = Studio(load_settings(Path("/dev/null"), data_dir=Path(sys.argv[1])))
assert type(studio.music) is PipelineMusicMaker and studio.device_queue.slots == 1
print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
"""


def test_without_a_cluster_ray_is_never_imported(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "data")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
