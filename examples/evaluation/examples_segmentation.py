"""FuseMedML's ``fuse/eval/examples/examples_segmentation.py`` written with the public ``fuse.eval`` API: semantic
segmentation (Dice, IoU, overlap, pixel accuracy, Hausdorff) and instance segmentation / detection (COCO formats).

Every ``example_seg_*`` runs with no argument, as FuseMedML's does, and returns the results ``NDict``. The optional
arguments: ``fixtures``, the folder of FuseMedML's input files; ``out``, a folder under which the example writes its
report and files; ``max_cases``, how many of the four NIfTI cases to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from eval_example_inputs import find_fixtures, header, require, subfolder, work_folder

from fuse.core import NDict, progress
from fuse.eval import (
    EvaluatorDefault,
    Metric2DHausdorff,
    MetricBase,
    MetricDetectionPrecision,
    MetricDetectionRecall,
    MetricDice,
    MetricInstanceIouJaccard,
    MetricIouJaccard,
    MetricOverlap,
    MetricPixelAccuracy,
)

# example_seg_0 scores groups of labels, each merged into one binary mask (FuseMedML's LABEL_MAPPING)
LABEL_GROUPS = {"label_1": (1, 2, 3), "label_2": (2, 3), "label_3": (2,)}


# --- semantic segmentation on FuseMedML's NIfTI label maps --------------------------------------------------------


def read_label_map(path: Path) -> np.ndarray:
    """The voxels of a NIfTI label map.

    nibabel comes with fuse-imaging, whose ``load_image`` also returns the geometry (spacing, orientation); Dice
    needs only the voxels, and reading them with nibabel alone keeps this evaluation torch-free.
    """
    nib = require("nibabel", "nibabel")
    return np.asarray(nib.Nifti1Image.from_filename(path).dataobj)


def segmentation_cases(fixtures: Path, max_cases: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield one sample per case, ``{"id", "pred.array", "label.array"}`` (predicted and target label maps).

    The volumes are read one case at a time, so a single pair is in memory at once; ``max_cases`` reads the first
    cases only (sorted by id).
    """
    folder = fixtures / "semantic_segmentation"
    predicted = sorted((folder / "predicted").glob("*.nii.gz"))[:max_cases]
    for path in progress(predicted, total=len(predicted), desc="NIfTI cases"):
        case_id = path.name.removesuffix(".nii.gz")
        yield {
            "id": case_id,
            "pred.array": read_label_map(path),
            "label.array": read_label_map(folder / "labeled" / case_id / "seg.nii.gz"),
        }


def label_group_mask(group: str) -> Callable[[NDict], NDict]:
    """A pre-collect function turning both label maps of a sample into binary masks of the group's labels."""
    labels = LABEL_GROUPS[group]

    def in_group(label_map: np.ndarray) -> np.ndarray:
        # zeros_like and elementwise comparisons keep the volume's memory order (NIfTI arrays are Fortran-ordered;
        # mixing orders, as np.isin does, copies the volume through strided reads: many times slower)
        mask = np.zeros_like(label_map, dtype=bool)
        for label in labels:
            mask |= label_map == label
        return mask

    def to_mask(sample: NDict) -> NDict:
        sample[f"pred.{group}"] = in_group(sample["pred.array"])
        sample[f"label.{group}"] = in_group(sample["label.array"])
        return sample

    return to_mask


def example_seg_0(fixtures: Path | None = None, out: Path | None = None, max_cases: int | None = None) -> NDict:
    """Binary Dice of three label groups (each merged into one mask), averaged over the cases."""
    header("example_seg_0", "Dice of label groups " + ", ".join(f"{g} = {v}" for g, v in LABEL_GROUPS.items()))
    # segmentation metrics score each sample when it is collected and keep only the scores
    metrics = {
        f"dice_{group}": MetricDice(
            pred=f"pred.{group}", target=f"label.{group}", pre_collect_process_func=label_group_mask(group)
        )
        for group in LABEL_GROUPS
    }
    # batch_size=1: `data` is an iterable of samples, collected one at a time (no DataFrame is built)
    results = EvaluatorDefault().eval(
        ids=None,
        data=segmentation_cases(find_fixtures(fixtures), max_cases),
        batch_size=1,
        metrics=metrics,
        output_dir=subfolder(out, "example_seg_0"),
    )
    for group in LABEL_GROUPS:
        print(f"Dice {group} = {results[f'metrics.dice_{group}.1']:.4f}")  # a binary mask's foreground is label 1
    return results


def example_seg_2(fixtures: Path | None = None, out: Path | None = None, max_cases: int | None = None) -> NDict:
    """Multi-label Dice: every non-zero label of the target maps scored separately, then their average."""
    header("example_seg_2", "Dice per label")
    metrics = {"dice": MetricDice(pred="pred.array", target="label.array")}
    results = EvaluatorDefault().eval(
        ids=None,
        data=segmentation_cases(find_fixtures(fixtures), max_cases),
        batch_size=1,
        metrics=metrics,
        output_dir=subfolder(out, "example_seg_2"),
    )
    for key, value in results["metrics.dice"].items():  # the labels found in the targets, then "average"
        print(f"Dice {key if key == 'average' else f'label {key}'} = {value:.4f}")
    return results


# --- semantic segmentation on arrays made in code -----------------------------------------------------------------


def example_seg_1() -> NDict:
    """Dice, overlap, pixel accuracy and IoU of one random binary volume pair (10 x 5 x 5 x 4)."""
    header("example_seg_1", "binary overlap metrics of random masks")
    # FuseMedML's set_seed(0) then two np.random.rand draws: the same stream, from a local generator
    rng = np.random.RandomState(0)
    sample = {"id": 0, "pred.array": rng.rand(10, 5, 5, 4) > 0.5, "label.array": rng.rand(10, 5, 5, 4) > 0.5}
    # a boolean mask's foreground is label 1: each metric reports {"1": score, "average": score}
    metrics = {
        "dice": MetricDice(pred="pred.array", target="label.array"),
        "overlap": MetricOverlap(pred="pred.array", target="label.array"),
        "pixel_accuracy": MetricPixelAccuracy(pred="pred.array", target="label.array"),
        "iou_jaccard": MetricIouJaccard(pred="pred.array", target="label.array"),
    }
    results = EvaluatorDefault().eval(ids=None, data=iter([sample]), batch_size=60, metrics=metrics)
    print(", ".join(f"{name} = {results[f'metrics.{name}.1']:.4f}" for name in metrics))
    return results


def example_seg_3() -> NDict:
    """Per-pixel weights (``pixel_weight``) and per-label weights (``class_weights``), and the 2-D Hausdorff distance."""
    header("example_seg_3", "pixel weights, class weights and the Hausdorff distance")
    sample = {
        "id": 0,
        "pred.array": np.array([(1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, 1.0)]),
        "label.array": np.array([(1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]),
        # one weight map per label ("<label>": map), or one map for every label
        "pixel_weight": {"1": np.full((4, 2), 0.125)},
    }
    class_weights = {"1": 1.0}  # the average over labels weighs label 1 by 1.0
    weighted: dict[str, Any] = {"pixel_weight": "pixel_weight", "class_weights": class_weights}
    metrics = {
        # distances between pixel centres, 1 per pixel (spacing=... sets the pixel size)
        "hausdorff": Metric2DHausdorff(pred="pred.array", target="label.array", class_weights=class_weights),
        "dice": MetricDice(pred="pred.array", target="label.array", **weighted),
        "overlap": MetricOverlap(pred="pred.array", target="label.array", **weighted),
        "pixel_accuracy": MetricPixelAccuracy(pred="pred.array", target="label.array", **weighted),
        "iou_jaccard": MetricIouJaccard(pred="pred.array", target="label.array", **weighted),
    }
    results = EvaluatorDefault().eval(ids=None, data=iter([sample]), batch_size=60, metrics=metrics)
    print(", ".join(f"{name} = {results[f'metrics.{name}.average']:.4f}" for name in metrics))
    return results


# --- instance segmentation and detection (COCO) -------------------------------------------------------------------

COCO_PIP = '"fuse-eval[coco]"'
COCO_CATEGORIES = {1: "person", 3: "car"}
COCO_HEIGHT, COCO_WIDTH = 48, 64
# (image id, category id, [x, y, w, h]) of the targets and of the detections: shifted boxes, one missed person,
# one false car, one poor person detection
COCO_TARGETS = [
    (1, 1, [4, 4, 16, 30]), (1, 3, [30, 20, 24, 14]),
    (2, 1, [10, 6, 14, 28]), (2, 1, [36, 8, 12, 26]), (2, 3, [4, 30, 20, 12]),
    (3, 1, [20, 2, 12, 30]), (3, 3, [6, 24, 30, 16]),
]  # fmt: skip
COCO_DETECTIONS = [
    (1, 1, [6, 5, 16, 30]), (1, 3, [31, 22, 24, 14]),
    (2, 1, [10, 7, 14, 28]), (2, 3, [5, 30, 20, 12]), (2, 3, [40, 36, 16, 10]),
    (3, 1, [28, 10, 12, 30]), (3, 3, [8, 25, 30, 14]),
]  # fmt: skip


def box_polygon(box: list[int]) -> list[float]:
    """An octagon inside ``[x, y, w, h]``: the instance outline, as a COCO polygon ``[x0, y0, x1, y1, ...]``."""
    x, y, w, h = box
    dx, dy = w / 4, h / 4
    points = [(x + dx, y), (x + w - dx, y), (x + w, y + dy), (x + w, y + h - dy),
              (x + w - dx, y + h), (x + dx, y + h), (x, y + h - dy), (x, y + dy)]  # fmt: skip
    return [float(v) for point in points for v in point]


def make_coco_files(folder: Path) -> tuple[Path, Path]:
    """Write a COCO ground-truth file and a COCO detection-results file, FuseMedML's two input files' formats.

    FuseMedML's example reads ``inputs/detection/example_coco_new.json`` and
    ``instances_val2014_fakesegm100_results.json``, which are not among the shared inputs: these are small equivalents
    (3 images, persons and cars). Targets outline each instance with a polygon, detections with a compressed RLE
    mask (pycocotools encodes it), as in FuseMedML's files.
    """
    mask = require("pycocotools.mask", COCO_PIP)
    folder.mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "height": COCO_HEIGHT, "width": COCO_WIDTH, "file_name": f"{i}.png"} for i in (1, 2, 3)]
    categories = [{"id": k, "name": name} for k, name in COCO_CATEGORIES.items()]
    annotations = [
        {"id": k, "image_id": image, "category_id": category, "bbox": box, "segmentation": [box_polygon(box)],
         "area": float(box[2] * box[3]), "iscrowd": 0}
        for k, (image, category, box) in enumerate(COCO_TARGETS, start=1)
    ]  # fmt: skip
    detections = []
    for image, category, box in COCO_DETECTIONS:
        rle = mask.merge(mask.frPyObjects([box_polygon(box)], COCO_HEIGHT, COCO_WIDTH))
        rle["counts"] = rle["counts"].decode("ascii")  # JSON holds the compressed counts as text
        detections.append({"image_id": image, "category_id": category, "bbox": box, "segmentation": rle, "score": 0.9})
    truth_file, results_file = folder / "example_coco.json", folder / "example_coco_results.json"
    truth_file.write_text(json.dumps({"images": images, "categories": categories, "annotations": annotations}))
    results_file.write_text(json.dumps(detections))
    return truth_file, results_file


def coco_samples(truth_file: Path, results_file: Path) -> Iterator[dict[str, Any]]:
    """One sample per image: its size, and per category and format the lists of target and predicted instances
    (``label.array_<bbox|polygon>_<category>``, ``pred.array_<bbox|polygon>_<category>``)."""
    truth = json.loads(truth_file.read_text())
    detections = json.loads(results_file.read_text())
    for image in truth["images"]:
        sample: dict[str, Any] = {"id": image["id"], "height": image["height"], "width": image["width"]}
        for category, name in COCO_CATEGORIES.items():
            mine = [a for a in truth["annotations"] if a["image_id"] == image["id"] and a["category_id"] == category]
            found = [d for d in detections if d["image_id"] == image["id"] and d["category_id"] == category]
            sample[f"label.array_bbox_{name}"] = [a["bbox"] for a in mine]
            sample[f"pred.array_bbox_{name}"] = [d["bbox"] for d in found]
            sample[f"label.array_polygon_{name}"] = [a["segmentation"] for a in mine]
            sample[f"pred.array_polygon_{name}"] = [d["segmentation"] for d in found]
        yield sample


def example_seg_4(*, out: Path | None = None) -> NDict:
    """Instance IoU, detection recall and precision of persons and cars, on boxes and on masks (COCO formats).

    The COCO files are generated (see :func:`make_coco_files`) into ``out/example_seg_4/``, else a temporary folder,
    removed afterwards.
    """
    header("example_seg_4", "instance IoU, detection recall and precision (COCO)")
    require("pycocotools.mask", COCO_PIP)  # masks in RLE and polygon formats are decoded with pycocotools
    metrics: dict[str, MetricBase] = {}
    for kind, pred_type, target_type in (("bbox", "bbox", "bbox"), ("polygon", "compressed_RLE", "polygon")):
        for name in COCO_CATEGORIES.values():
            keys: dict[str, Any] = {
                "pred": f"pred.array_{kind}_{name}",
                "target": f"label.array_{kind}_{name}",
                "segmentation_pred_type": pred_type,
                "segmentation_target_type": target_type,
                "height": "height",  # the key holding each image's size (polygons are rasterised at that size)
                "width": "width",
            }
            metrics[f"iou_{kind}_{name}"] = MetricInstanceIouJaccard(**keys)
            metrics[f"recall_{kind}_{name}"] = MetricDetectionRecall(**keys)
            metrics[f"precision_{kind}_{name}"] = MetricDetectionPrecision(**keys)
    with work_folder(out, "example_seg_4") as generated:
        truth_file, results_file = make_coco_files(generated)
        results = EvaluatorDefault().eval(
            ids=None,
            data=coco_samples(truth_file, results_file),
            batch_size=60,
            metrics=metrics,
            output_dir=subfolder(out, "example_seg_4"),
        )
    for name, value in results["metrics"].items():
        print(f"{name} = {value:.4f}")
    return results
