"""What every card shares: the study's citation, licences and the YAML front matter.

The citation facts come from the authors' own release (their README's BibTeX, repository commit b81cdc8): the study
is an EarthArXiv preprint of 2026 with its own DOI; the data record is on Zenodo. What that release does not state
is not filled in here: the data record's year and creators, and the dataset's licence (set on the record).
"""

from __future__ import annotations

import yaml

PAPER_TITLE = "Automating glacier facies classification: pan-European dataset and deep learning baseline"
PAPER_AUTHORS = ("Konstantin A. Maslov", "Thomas Schellenberger", "Prashant Pandit", "Claudio Persello", "Alfred Stein")
PAPER_YEAR = 2026
#: DOI of the study (EarthArXiv preprint); a journal version, if any, is not recorded here.
PAPER_DOI = "10.31223/X5QN1V"
PAPER_URL = f"https://doi.org/{PAPER_DOI}"
#: The preprint's page, as the authors' own citation gives it.
PREPRINT_PAGE = "https://eartharxiv.org/repository/view/11580/"
DATASET_DOI = "10.5281/zenodo.18469893"
UPSTREAM_CODE = "https://github.com/konstantin-a-maslov/glacier_facies_classification"
#: Where the project publishes on the Hugging Face hub. Placeholders, configurable: set them to the namespace the
#: converted models are pushed to and the dataset repository (cards, model-index, ``FaciesCNN.from_published``).
HUB_NAMESPACE = "glacier-facies"
DATASET_REPO_ID = f"{HUB_NAMESPACE}/pan-european-glacier-facies"
CODE_LICENSE = "gpl-2.0"
#: Card metadata of the dataset's licence: the publisher sets it on the Zenodo record and it is not known here for
#: certain, so the card says ``other`` and links the record instead of naming a licence.
DATASET_LICENSE = {
    "license": "other",
    "license_name": "zenodo-record-18469893",
    "license_link": f"https://doi.org/{DATASET_DOI}",
}


def _bibtex_authors() -> str:
    """``Last, First and ...`` of :data:`PAPER_AUTHORS`."""
    return " and ".join(f"{name.rsplit(' ', 1)[1]}, {name.rsplit(' ', 1)[0]}" for name in PAPER_AUTHORS)


CITATION_BIBTEX = f"""@misc{{maslov{PAPER_YEAR}glacierfacies,
  author       = {{{_bibtex_authors()}}},
  title        = {{{PAPER_TITLE}}},
  year         = {{{PAPER_YEAR}}},
  howpublished = {{EarthArXiv preprint}},
  url          = {{{PREPRINT_PAGE}}},
  doi          = {{{PAPER_DOI}}}
}}

@misc{{glacierfacies_data_record,
  title        = {{Data record of ``{PAPER_TITLE}''}},
  howpublished = {{Zenodo}},
  url          = {{https://doi.org/{DATASET_DOI}}},
  doi          = {{{DATASET_DOI}}},
  note         = {{Creators, year and licence as stated on the record}}
}}"""


def render_card(metadata: dict, body: str) -> str:
    """A hub card: YAML front matter (``metadata``) followed by the Markdown ``body``."""
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.strip()}\n"


def citation_section() -> str:
    """The Markdown citation block every card ends with."""
    return (
        "## Citation\n\nIf you use this work, cite the study (a preprint; doi:"
        f"{PAPER_DOI}) and the data record (doi:{DATASET_DOI}; take its year and creators from the record, which "
        f"this card does not restate):\n\n```bibtex\n{CITATION_BIBTEX}\n```\n"
    )
