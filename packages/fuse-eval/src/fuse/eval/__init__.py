"""fuse-eval: metrics, confidence intervals, model comparison and calibration for medical ML (torch-free).

>>> import pandas as pd
>>> from fuse.eval import CI, EvaluatorDefault, MetricAUCROC
>>> data = pd.DataFrame({"id": range(6), "pred": [0.1, 0.4, 0.35, 0.8, 0.7, 0.2], "target": [0, 0, 1, 1, 1, 0]})
>>> metrics = {"auc": CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=200)}
>>> results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
>>> round(results["metrics.auc.org"], 4), sorted(results["metrics.auc"].keys())[:2]
(0.8889, ['conf_interval', 'conf_lower'])
"""

from fuse.eval._auc import MetricAUCROC, auc_roc
from fuse.eval._bootstrap import CI
from fuse.eval._classification import (
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricBalAccuracy,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricMCC,
    MetricOperatingPoint,
    accuracy,
    apply_thresholds,
    auc_pr,
    balanced_accuracy,
    confusion_matrix,
    confusion_metrics,
    convert_probabilities_to_class,
    mcc,
    multi_class_bs,
    multi_class_bss,
    operating_point,
)
from fuse.eval._collector import MetricCollector
from fuse.eval._comparison import (
    MetricContingencyTable,
    MetricDelongsTest,
    MetricMcnemarsTest,
    contingency_table,
    delong_test,
    mcnemars_test,
)
from fuse.eval._curves import (
    MetricAUCROCMultLabel,
    MetricPrecisionRecallCurve,
    MetricROCCurve,
    auc_roc_multilabel,
    precision_recall_curve,
    roc_curve,
    roc_curve_band,
)
from fuse.eval._evaluator import EvaluatorDefault
from fuse.eval._group import Filter, GroupAnalysis
from fuse.eval._metric_base import (
    MetricBase,
    MetricDefault,
    MetricPerBatchDefault,
    MetricPerSampleDefault,
    MetricWithCollectorBase,
)
from fuse.eval._multiclass import MetricMultiClassDefault
from fuse.eval._paired import (
    PairedBootstrap,
    bootstrap_margin_equality,
    bootstrap_margin_non_inferiority,
    bootstrap_margin_superiority,
)
from fuse.eval._per_sample import PerSampleData
from fuse.eval._version import __version__
from fuse.eval._warnings import UndefinedMetricWarning

_PUBLIC_CLASSES: tuple[type, ...] = (
    MetricAUCROC, CI, MetricCollector, EvaluatorDefault, Filter, GroupAnalysis, MetricBase, MetricDefault,
    MetricWithCollectorBase, MetricMultiClassDefault, PerSampleData, UndefinedMetricWarning, MetricAccuracy,
    MetricApplyThresholds, MetricAUCPR, MetricBalAccuracy, MetricBSS, MetricConfusion, MetricConfusionMatrix,
    MetricMCC, MetricOperatingPoint, MetricPerSampleDefault, MetricPerBatchDefault,
    PairedBootstrap, MetricAUCROCMultLabel, MetricPrecisionRecallCurve, MetricROCCurve,
    MetricContingencyTable, MetricDelongsTest, MetricMcnemarsTest,
)  # fmt: skip
for _public in _PUBLIC_CLASSES:
    _public.__module__ = __name__
del _public, _PUBLIC_CLASSES

__all__ = [
    "CI",
    "MetricAUCPR",
    "MetricAccuracy",
    "MetricApplyThresholds",
    "MetricBSS",
    "MetricBalAccuracy",
    "MetricConfusion",
    "MetricConfusionMatrix",
    "MetricContingencyTable",
    "MetricDelongsTest",
    "MetricMcnemarsTest",
    "contingency_table",
    "delong_test",
    "mcnemars_test",
    "MetricMCC",
    "MetricOperatingPoint",
    "accuracy",
    "apply_thresholds",
    "auc_pr",
    "balanced_accuracy",
    "confusion_matrix",
    "confusion_metrics",
    "convert_probabilities_to_class",
    "mcc",
    "multi_class_bs",
    "multi_class_bss",
    "operating_point",
    "EvaluatorDefault",
    "Filter",
    "GroupAnalysis",
    "MetricAUCROC",
    "MetricAUCROCMultLabel",
    "MetricPrecisionRecallCurve",
    "MetricROCCurve",
    "auc_roc_multilabel",
    "precision_recall_curve",
    "roc_curve",
    "roc_curve_band",
    "MetricBase",
    "MetricCollector",
    "MetricDefault",
    "MetricMultiClassDefault",
    "MetricPerBatchDefault",
    "MetricPerSampleDefault",
    "MetricWithCollectorBase",
    "PairedBootstrap",
    "PerSampleData",
    "bootstrap_margin_equality",
    "bootstrap_margin_non_inferiority",
    "bootstrap_margin_superiority",
    "UndefinedMetricWarning",
    "__version__",
    "auc_roc",
]
