"""Test-wide settings: fully offline, with a private Hugging Face cache, set before any HF import."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="glacier-facies-tests-hf-")
os.environ.setdefault("MPLBACKEND", "Agg")
