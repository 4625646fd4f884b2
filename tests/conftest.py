"""Shared test fixtures: the ``../shared`` reference data and the repository root."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "micronet"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def micronet_data():
    """``../shared/data/micronet``: the authors' weights, the ONNX export and real photos."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (see ../shared/README.md)")
    return SHARED_DATA
