import os
import sys

# Tests import the package from the source tree, whichever interpreter runs them.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
