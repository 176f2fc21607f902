"""What every card shares: the study's citation, licences and the YAML front matter."""

from __future__ import annotations

import yaml

PAPER_TITLE = "Automating glacier facies classification: pan-European dataset and deep learning baseline"
PAPER_AUTHORS = ("Konstantin A. Maslov", "Thomas Schellenberger", "Prashant Pandit", "Claudio Persello", "Alfred Stein")
DATASET_DOI = "10.5281/zenodo.18469893"
UPSTREAM_CODE = "https://github.com/konstantin-a-maslov/glacier_facies_classification"
PAPER_URL = "https://doi.org/10.31223/X5QN1V"  # the EarthArXiv preprint, as the authors' README cites it
#: Where the project publishes on the Hugging Face hub. Placeholders, configurable: set them to the namespace the
#: converted models are pushed to and the dataset repository (cards, model-index, ``FaciesCNN.from_published``).
HUB_NAMESPACE = "glacier-facies"
DATASET_REPO_ID = f"{HUB_NAMESPACE}/pan-european-glacier-facies"
CODE_LICENSE = "gpl-2.0"
CITATION_BIBTEX = """@article{maslov_glacier_facies,
  title   = {Automating glacier facies classification: pan-European dataset and deep learning baseline},
  author  = {Maslov, Konstantin A. and Schellenberger, Thomas and Pandit, Prashant and Persello, Claudio and Stein, Alfred},
  note    = {Dataset: doi:10.5281/zenodo.18469893; code: https://github.com/konstantin-a-maslov/glacier_facies_classification}
}"""


def render_card(metadata: dict, body: str) -> str:
    """A hub card: YAML front matter (``metadata``) followed by the Markdown ``body``."""
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.strip()}\n"


def citation_section() -> str:
    """The Markdown citation block every card ends with."""
    return (
        f"## Citation\n\nIf you use this work, cite the study and the dataset:\n\n```bibtex\n{CITATION_BIBTEX}\n```\n"
    )
