"""The evaluation wing: metrics, calibration, figures, the results JSON, scoring against a built dataset,
benchmark submissions, the NDSI rules baseline and the realism check (how a dataset looks to the published models).

Layering inside the wing: ``metrics``, ``calibration``, ``ndsi_rules`` < ``plots``, ``results``, ``realism`` <
``evaluate`` < ``submissions``.
"""

from dataset_builder.writer import dataset_revision
from modeling.evaluation.calibration import (
    ReliabilityCurve,
    apply_temperature,
    as_logits,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    is_probability,
    reliability_curve,
    uncalibrated,
)
from modeling.evaluation.evaluate import LabelledPredictions, align_labels, evaluate_predictions
from modeling.evaluation.metrics import (
    SUMMARY_METRICS,
    bootstrap_intervals,
    classification_report,
    confusion_matrix,
    glacier_scores,
    metrics_from_confusion,
    paired_bootstrap,
)
from modeling.evaluation.ndsi_rules import NDSIRules
from modeling.evaluation.plots import (
    confusion_matrix_figure,
    plot_confusion_matrix,
    plot_reliability_diagram,
    plot_training_curves,
    reliability_diagram_figure,
    training_curves_figure,
)
from modeling.evaluation.realism import RealismReport, check_realism
from modeling.evaluation.results import RESULTS_SCHEMA_VERSION, ResultsRecord, summary_table
from modeling.evaluation.submissions import (
    PUBLISHED,
    DatasetLabels,
    LeaderboardEntry,
    Submission,
    add_to_leaderboard,
    evaluate_submission,
    leaderboard_scores,
    read_submission,
    score_submission,
    submission_reports,
    write_submission,
)

__all__ = [
    "PUBLISHED",
    "RESULTS_SCHEMA_VERSION",
    "SUMMARY_METRICS",
    "DatasetLabels",
    "LabelledPredictions",
    "LeaderboardEntry",
    "NDSIRules",
    "RealismReport",
    "ReliabilityCurve",
    "ResultsRecord",
    "Submission",
    "add_to_leaderboard",
    "align_labels",
    "apply_temperature",
    "as_logits",
    "bootstrap_intervals",
    "calibration_summary",
    "check_realism",
    "classification_report",
    "confusion_matrix",
    "confusion_matrix_figure",
    "dataset_revision",
    "evaluate_predictions",
    "evaluate_submission",
    "expected_calibration_error",
    "fit_temperature",
    "glacier_scores",
    "is_probability",
    "leaderboard_scores",
    "metrics_from_confusion",
    "paired_bootstrap",
    "plot_confusion_matrix",
    "plot_reliability_diagram",
    "plot_training_curves",
    "read_submission",
    "reliability_curve",
    "reliability_diagram_figure",
    "score_submission",
    "submission_reports",
    "summary_table",
    "training_curves_figure",
    "uncalibrated",
    "write_submission",
]
