"""fuse-eval: metrics, confidence intervals, model comparison and calibration for medical ML (torch-free).

>>> import pandas as pd
>>> from fuse.eval import CI, EvaluatorDefault, MetricAUCROC
>>> data = pd.DataFrame({"id": range(6), "pred": [0.1, 0.4, 0.35, 0.8, 0.7, 0.2], "target": [0, 0, 1, 1, 1, 0]})
>>> metrics = {"auc": CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=200)}
>>> results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
>>> round(results["metrics.auc.org"], 4), sorted(results["metrics.auc"].keys())[:2]
(0.8889, ['conf_interval', 'conf_lower'])
"""

from fuse.core import publish_public_names
from fuse.eval._evaluator import EvaluatorDefault
from fuse.eval._version import __version__
from fuse.eval.framework._collector import MetricCollector
from fuse.eval.framework._metric_base import (
    MetricBase,
    MetricDefault,
    MetricPerBatchDefault,
    MetricPerSampleDefault,
    MetricWithCollectorBase,
)
from fuse.eval.framework._multiclass import MetricMultiClassDefault
from fuse.eval.framework._per_sample import PerSampleData
from fuse.eval.framework._warnings import UndefinedMetricWarning
from fuse.eval.metrics._regression import (
    MetricMAE,
    MetricMSE,
    MetricPearsonCorrelation,
    MetricR2,
    MetricRMSE,
    MetricSpearmanCorrelation,
    mae,
    mse,
    pearson_correlation,
    r2,
    rmse,
    spearman_correlation,
)
from fuse.eval.metrics._sequence import (
    MetricCountSeqAndTokens,
    MetricPerplexity,
    count_seq_and_tokens,
    perplexity,
    perplexity_update,
)
from fuse.eval.metrics._stat import MetricUniqueValues, unique_values
from fuse.eval.metrics._survival import (
    MetricCIndex,
    MetricExpectedCIndex,
    c_index,
    c_index_resampled,
    concordance_counts,
    concordance_index,
    expected_c_index,
)
from fuse.eval.metrics.classification._brier import MetricBSS, multi_class_bs, multi_class_bss
from fuse.eval.metrics.classification._calibration import (
    ECE_METHODS,
    MetricECE,
    MetricReliabilityDiagram,
    expected_calibration_error,
    reliability_diagram,
)
from fuse.eval.metrics.classification._calibration_stats import (
    CALIBRATION_STATS,
    MetricCalibrationStats,
    calibration_intercept,
    calibration_slope,
    calibration_stats,
    integrated_calibration_index,
)
from fuse.eval.metrics.classification._comparison import (
    MetricContingencyTable,
    MetricDelongsTest,
    MetricMcnemarsTest,
    contingency_table,
    delong_test,
    mcnemars_test,
)
from fuse.eval.metrics.classification._confusion import (
    MetricConfusion,
    MetricConfusionMatrix,
    confusion_matrix,
    confusion_metrics,
)
from fuse.eval.metrics.classification._decision_curve import MetricNetBenefit, net_benefit
from fuse.eval.metrics.classification._ensemble import ENSEMBLE_METHODS, MetricEnsemble, ensemble
from fuse.eval.metrics.classification._labels import (
    MetricAccuracy,
    MetricBalAccuracy,
    MetricMCC,
    accuracy,
    balanced_accuracy,
    mcc,
)
from fuse.eval.metrics.classification._pr import MetricAUCPR, MetricPrecisionRecallCurve, auc_pr, precision_recall_curve
from fuse.eval.metrics.classification._roc import (
    MetricAUCROC,
    MetricAUCROCMultLabel,
    MetricROCCurve,
    auc_roc,
    auc_roc_multilabel,
    roc_curve,
    roc_curve_band,
)
from fuse.eval.metrics.classification._temperature import (
    TEMPERATURE_OPTIMIZERS,
    MetricApplyTemperature,
    MetricFindTemperature,
    apply_temperature,
    find_temperature,
)
from fuse.eval.metrics.classification._thresholds import (
    MetricApplyThresholds,
    MetricOperatingPoint,
    apply_thresholds,
    convert_probabilities_to_class,
    operating_point,
)
from fuse.eval.metrics.mrmc._mrmc import MRMC_COV_METHODS, MRMC_READERS, MetricMRMC, mrmc
from fuse.eval.metrics.segmentation._detection import (
    SEGMENTATION_TYPES,
    MetricDetectionPrecision,
    MetricDetectionRecall,
    MetricInstanceIouJaccard,
    box_iou,
    detection_precision,
    detection_recall,
    instance_iou,
    mask_iou,
    matched_iou,
)
from fuse.eval.metrics.segmentation._overlap import (
    MetricDice,
    MetricIouJaccard,
    MetricOverlap,
    MetricPixelAccuracy,
    dice,
    iou_jaccard,
    overlap,
    pixel_accuracy,
)
from fuse.eval.metrics.segmentation._surface import (
    Metric2DHausdorff,
    MetricAverageSurfaceDistance,
    MetricHausdorff,
    MetricHausdorff95,
    average_surface_distance,
    hausdorff_distance,
)
from fuse.eval.plots._calibration import plot_reliability_diagram, plot_risk_calibration
from fuse.eval.plots._confusion import plot_confusion_matrix
from fuse.eval.plots._curves import plot_precision_recall_curves, plot_roc_curves
from fuse.eval.plots._decision import plot_decision_curve
from fuse.eval.report._report import write_report
from fuse.eval.report._settings import ReportSettings
from fuse.eval.resampling._ci import CI
from fuse.eval.resampling._group import Filter, GroupAnalysis
from fuse.eval.resampling._paired import (
    PairedBootstrap,
    bootstrap_margin_equality,
    bootstrap_margin_non_inferiority,
    bootstrap_margin_superiority,
)
from fuse.eval.resampling._proportion import PROPORTION_CI_METHODS, proportion_ci

__all__ = [
    "CALIBRATION_STATS",
    "CI",
    "ECE_METHODS",
    "ENSEMBLE_METHODS",
    "EvaluatorDefault",
    "Filter",
    "GroupAnalysis",
    "MRMC_COV_METHODS",
    "MRMC_READERS",
    "Metric2DHausdorff",
    "MetricAUCPR",
    "MetricAUCROC",
    "MetricAUCROCMultLabel",
    "MetricAccuracy",
    "MetricApplyTemperature",
    "MetricApplyThresholds",
    "MetricAverageSurfaceDistance",
    "MetricBSS",
    "MetricBalAccuracy",
    "MetricBase",
    "MetricCIndex",
    "MetricCalibrationStats",
    "MetricCollector",
    "MetricConfusion",
    "MetricConfusionMatrix",
    "MetricContingencyTable",
    "MetricCountSeqAndTokens",
    "MetricDefault",
    "MetricDelongsTest",
    "MetricDetectionPrecision",
    "MetricDetectionRecall",
    "MetricDice",
    "MetricECE",
    "MetricEnsemble",
    "MetricExpectedCIndex",
    "MetricFindTemperature",
    "MetricHausdorff",
    "MetricHausdorff95",
    "MetricInstanceIouJaccard",
    "MetricIouJaccard",
    "MetricMAE",
    "MetricMCC",
    "MetricMRMC",
    "MetricMSE",
    "MetricMcnemarsTest",
    "MetricMultiClassDefault",
    "MetricNetBenefit",
    "MetricOperatingPoint",
    "MetricOverlap",
    "MetricPearsonCorrelation",
    "MetricPerBatchDefault",
    "MetricPerSampleDefault",
    "MetricPerplexity",
    "MetricPixelAccuracy",
    "MetricPrecisionRecallCurve",
    "MetricR2",
    "MetricRMSE",
    "MetricROCCurve",
    "MetricReliabilityDiagram",
    "MetricSpearmanCorrelation",
    "MetricUniqueValues",
    "MetricWithCollectorBase",
    "PROPORTION_CI_METHODS",
    "PairedBootstrap",
    "PerSampleData",
    "ReportSettings",
    "SEGMENTATION_TYPES",
    "TEMPERATURE_OPTIMIZERS",
    "UndefinedMetricWarning",
    "__version__",
    "accuracy",
    "apply_temperature",
    "apply_thresholds",
    "auc_pr",
    "auc_roc",
    "auc_roc_multilabel",
    "average_surface_distance",
    "balanced_accuracy",
    "bootstrap_margin_equality",
    "bootstrap_margin_non_inferiority",
    "bootstrap_margin_superiority",
    "box_iou",
    "c_index",
    "c_index_resampled",
    "calibration_intercept",
    "calibration_slope",
    "calibration_stats",
    "concordance_counts",
    "concordance_index",
    "confusion_matrix",
    "confusion_metrics",
    "contingency_table",
    "convert_probabilities_to_class",
    "count_seq_and_tokens",
    "delong_test",
    "detection_precision",
    "detection_recall",
    "dice",
    "ensemble",
    "expected_c_index",
    "expected_calibration_error",
    "find_temperature",
    "hausdorff_distance",
    "instance_iou",
    "integrated_calibration_index",
    "iou_jaccard",
    "mae",
    "mask_iou",
    "matched_iou",
    "mcc",
    "mcnemars_test",
    "mrmc",
    "mse",
    "multi_class_bs",
    "multi_class_bss",
    "net_benefit",
    "operating_point",
    "overlap",
    "pearson_correlation",
    "perplexity",
    "perplexity_update",
    "pixel_accuracy",
    "plot_confusion_matrix",
    "plot_decision_curve",
    "plot_precision_recall_curves",
    "plot_reliability_diagram",
    "plot_risk_calibration",
    "plot_roc_curves",
    "precision_recall_curve",
    "proportion_ci",
    "r2",
    "reliability_diagram",
    "rmse",
    "roc_curve",
    "roc_curve_band",
    "spearman_correlation",
    "unique_values",
    "write_report",
]

publish_public_names(globals(), __name__, __all__)
