"""The prebuilt front-end extension (src/dlcourse/lab/labextension/) is built from labextension/ as it is now:
`make labextension` records the hashes of the sources it built from, and a source edited without a rebuild
fails here (the committed button would not be the code in the repository)."""

import hashlib
import json
from pathlib import Path

from dlcourse import notebooks

ROOT = notebooks.course_root()
BUILT = Path(__file__).resolve().parents[2] / "src" / "dlcourse" / "lab" / "labextension"


def test_the_prebuilt_extension_is_built_from_the_sources_here():
    recorded = {}
    for line in (BUILT / "built-from.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        recorded[name] = digest
    assert set(recorded) == {"labextension/lib/index.js", "labextension/package.json"}
    for name, digest in recorded.items():
        now = hashlib.sha256((ROOT / name).read_bytes()).hexdigest()
        assert now == digest, f"{name} changed since the extension was built: run `make labextension` and commit its output"


def test_the_prebuilt_extension_loads_what_it_names():
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == "dlcourse-lab"
    assert (BUILT / meta["jupyterlab"]["_build"]["load"]).is_file()
