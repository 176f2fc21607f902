"""Facies to mass balance: accumulation-area ratios from facies maps regressed against annual balances.

The chain, one module per step (:func:`run` in :mod:`~modeling.mass_balance.job` strings them together
and writes the outputs):

1. :mod:`~modeling.mass_balance.maps` - :func:`aar_from_maps`: one row per glacier and scene: pixel
   counts over the glacier outline and accumulation-area-like ratios (AAR) for several class sets,
   counted over the *observed* glacier area (not cloud, shadow or nodata), with the unobserved share
   beside them; :func:`select_end_of_season` drops scenes outside the ablation season (see
   :class:`SeasonRule`) or seen too poorly, and keeps one scene per glacier and balance year.
2. :mod:`~modeling.mass_balance.records` - :func:`read_mb_table`: a WGMS mass-balance table of either
   generation (upper-case ``WGMS_ID, YEAR, ANNUAL_BALANCE`` in mm w.e.; lower-case ``glacier_id, year,
   annual_balance`` in m w.e.) or a FoG folder; :mod:`~modeling.mass_balance.links` - :func:`link_records`:
   each record's glacier, by WGMS id (outlines' ``wgms_id`` column, or a link table: the WGMS glacier table's
   RGI/GLIMS ids or a two-column CSV) or by name, each link reported; :func:`match_records` joins them to the
   selected scenes by glacier and balance year.
3. :mod:`~modeling.mass_balance.regression` - :func:`fit_pooled`, :func:`fit_glacier_specific` (one line
   per glacier, or a shared slope with glacier offsets) and :func:`cross_validation` (leave one glacier
   out for the pooled fit, leave one year out for glacier-specific ones), scored by :func:`score`.
4. :mod:`~modeling.mass_balance.plots` - :func:`plot_scatter`, :func:`plot_timeseries` (figures);
   :mod:`~modeling.mass_balance.job` saves them beside the tables and :func:`write_results`.

Balances are in m w.e. from :func:`read_mb_table` on; slopes are m w.e. per unit AAR.

Problems in the inputs (unknown glaciers, duplicate records, years without scenes, scenes without
records, poorly observed scenes) are reported as :class:`MassBalanceWarning` and the rest is used;
only inputs that cannot be read or interpreted (e.g. balances that look like m w.e. when mm w.e. was
declared) raise :class:`MassBalanceInputError`.
"""

from modeling.errors import MassBalanceInputError
from modeling.mass_balance.job import format_results, run, write_results
from modeling.mass_balance.links import link_records, link_report, normal_name, read_link_table
from modeling.mass_balance.maps import (
    ACCUMULATION_SETS,
    DEFAULT_PREDICTOR,
    SELECTION_RULES,
    MapFile,
    SeasonRule,
    aar_from_maps,
    find_maps,
    select_end_of_season,
)
from modeling.mass_balance.notes import MassBalanceWarning
from modeling.mass_balance.plots import plot_scatter, plot_timeseries
from modeling.mass_balance.records import LAYOUT_UNITS, UNITS, find_link_table, match_records, read_mb_table
from modeling.mass_balance.regression import (
    ALL_GLACIERS,
    MODELS,
    CrossValidation,
    Estimate,
    Fit,
    Score,
    cross_validation,
    fit,
    fit_glacier_specific,
    fit_pooled,
    regress,
    score,
)

__all__ = [
    "ACCUMULATION_SETS",
    "ALL_GLACIERS",
    "DEFAULT_PREDICTOR",
    "LAYOUT_UNITS",
    "MODELS",
    "SELECTION_RULES",
    "CrossValidation",
    "Estimate",
    "Fit",
    "MapFile",
    "MassBalanceInputError",
    "MassBalanceWarning",
    "Score",
    "SeasonRule",
    "UNITS",
    "aar_from_maps",
    "cross_validation",
    "find_link_table",
    "find_maps",
    "fit",
    "fit_glacier_specific",
    "fit_pooled",
    "link_records",
    "link_report",
    "match_records",
    "normal_name",
    "plot_scatter",
    "plot_timeseries",
    "read_link_table",
    "read_mb_table",
    "regress",
    "format_results",
    "run",
    "score",
    "select_end_of_season",
    "write_results",
]
