"""A seeded, physically plausible synthetic pan-European glacier facies benchmark.

The real data (Maslov et al., "Automating glacier facies classification: pan-European dataset and deep learning
baseline", dataset doi:10.5281/zenodo.18469893) cannot be downloaded here; this generator writes a stand-in with a
known truth: glaciers of four regional characters (Alpine valley glaciers, Scandinavian plateau ice, Svalbard
tidewater-like glaciers, Icelandic ice caps) on a 10 m DEM, several end-of-season scenes per glacier (Landsat 5/7/8,
Sentinel-2), facies driven by a yearly snowline, clouds with cast shadows, terrain shadows, the 11 bands of the
released data, expert-like point labels with boundary label noise, folds by glacier and a WGMS-like annual
mass-balance table. See :func:`generate` for the layout.

Everything is vectorised numpy over whole scenes; the only loops are over glaciers, scenes, classes and labels'
file writes. One seed fixes every byte of the output. Modules, in import order: ``sensors``, ``config``,
``regions``, ``terrain``, ``plan``, ``facies``, ``reflectance``, ``scene``, ``labels``, ``mass_balance``,
``plausibility``, ``tables``, ``simulate``, ``writing``.
"""

from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.labels import AMBIGUOUS_PARTNERS, CLASS_SHARES, NOISY_CLASSES
from dataset_builder.synthetic.plausibility import PlausibilityReport, check_plausibility
from dataset_builder.synthetic.reflectance import SIGNATURES
from dataset_builder.synthetic.regions import REGIONS
from dataset_builder.synthetic.simulate import simulate_plausibility
from dataset_builder.synthetic.writing import SyntheticSummary, generate

__all__ = [
    "AMBIGUOUS_PARTNERS",
    "CLASS_SHARES",
    "NOISY_CLASSES",
    "REGIONS",
    "SIGNATURES",
    "PlausibilityReport",
    "SyntheticConfig",
    "SyntheticSummary",
    "check_plausibility",
    "generate",
    "simulate_plausibility",
]
