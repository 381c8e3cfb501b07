import os
import sys

import pytest

# Tests import the package from the source tree, whichever interpreter runs them.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# The boundary-test and fixture ops (osrm_runtime/testing) are registered only when asked for.
os.environ["OSRM_TESTING_OPS"] = "1"

# Shared fixtures: tiny real models and GLUE-format folders (imported after sys.path is set).
from osrm_runtime.testing import make_tiny_model, write_glue_dir  # noqa: E402


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory):
    return make_tiny_model(str(tmp_path_factory.mktemp("models") / "tiny-roberta"), family="roberta")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return make_tiny_model(str(tmp_path_factory.mktemp("models") / "tiny-llama"), family="llama")


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory):
    return write_glue_dir(str(tmp_path_factory.mktemp("glue")), tasks=("sst2", "mrpc", "stsb", "cola", "rte"))
