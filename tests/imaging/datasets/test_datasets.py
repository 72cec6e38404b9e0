"""Dataset wrappers on tiny synthetic trees in their exact on-disk layouts, checked against nibabel / Pillow / pandas
computations; cache reuse; downloads against a local HTTP server only."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fuse.core import NDict, set_seed
from fuse.data import DatasetDefault, PipelineDefault
from fuse.imaging.datasets import CMMD, ISIC, KITS21, KNIGHT, PICAI, STOIC21
from fuse.imaging.datasets._isic import OpEncodeMetaData
from fuse.imaging.datasets._kits21 import OpKits21SampleIDDecode
from fuse.imaging.datasets._knight import OpClinicalLoad
from fuse.imaging.io import _loader

# ---------------------------------------------------------------------------------------------- local server


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    running = _Server(root)
    running.thread.start()
    try:
        yield running
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()
        running.thread.join()


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every image file the loader reads from now on (the static pipelines run in this process)."""
    loads: list[Path] = []
    original = _loader._load

    def counting(path: Path, *args: Any) -> Any:
        loads.append(path)
        return original(path, *args)

    monkeypatch.setattr(_loader, "_load", counting)
    return loads


# ---------------------------------------------------------------------------------------------- KiTS21

KITS_SHAPE = (8, 16, 12)  # as stored: the last axis becomes the first


def _kits_case(folder: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(-1000, 1000, size=KITS_SHAPE).astype(np.int16)
    seg = rng.integers(0, 3, size=KITS_SHAPE).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    nib.save(nib.Nifti1Image(image, affine), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(seg, affine), folder / "aggregated_MAJ_seg.nii.gz")
    return image, seg


def _kits_tree(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {f"case_{i:05d}": _kits_case(root / f"case_{i:05d}", seed=i) for i in (0, 1, 7)}


def test_kits21_static_values_and_cache_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "kits21"
    cases = _kits_tree(data)
    (data / "case_00003").mkdir()  # incomplete case: not listed
    assert KITS21.sample_ids(data) == ["case_00000", "case_00001", "case_00007"]
    d, h, w = KITS_SHAPE[2], KITS_SHAPE[0], KITS_SHAPE[1]
    loads = _count_loads(monkeypatch)
    ds = KITS21.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(d, h, w), augment=False)
    assert len(loads) == 6  # three cases, image and segmentation
    assert len(ds) == 3
    for index, (case, (image, seg)) in enumerate(cases.items()):
        sample = ds[index]
        assert sample["data.sample_id"] == case
        assert sample["data.input.img_path"] == f"{case}/imaging.nii.gz"
        assert sample["data.gt.seg_path"] == f"{case}/aggregated_MAJ_seg.nii.gz"
        expected_image = np.moveaxis((np.clip(image.astype(np.float64), -500, 500) + 500) / 1000, -1, 0)
        img = sample["data.input.img"]
        assert isinstance(img, torch.Tensor)
        assert img.dtype == torch.float32
        assert tuple(img.shape) == (1, d, h, w)
        np.testing.assert_allclose(img[0].numpy(), expected_image, atol=1e-6)
        gt = sample["data.gt.seg"]
        assert gt.dtype == torch.float32
        assert tuple(gt.shape) == (d, h, w)
        np.testing.assert_array_equal(gt.numpy(), np.moveaxis(seg, -1, 0))  # the seg is moved too (FuseMedML: not)
    # the second call reads the cache: it loads no image while it is created
    loads.clear()
    again = KITS21.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(d, h, w), augment=False)
    assert loads == []
    np.testing.assert_array_equal(again[2]["data.input.img"].numpy(), ds[2]["data.input.img"].numpy())
    shutil.rmtree(data)
    with pytest.raises(FileNotFoundError, match=r"no case found .* KITS21\.download"):
        KITS21.dataset(data, tmp_path / "cache", num_workers=0)


def test_kits21_resize_and_augmentation(tmp_path: Path) -> None:
    data = tmp_path / "kits21"
    cases = _kits_tree(data)
    set_seed(3)
    ds = KITS21.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(6, 10, 10), augment=True)
    first = ds[1]
    assert tuple(first["data.input.img"].shape) == (1, 6, 10, 10)
    assert tuple(first["data.gt.seg"].shape) == (6, 10, 10)
    labels = set(np.unique(first["data.gt.seg"].numpy()).tolist())
    assert labels <= set(np.unique(cases["case_00001"][1]).tolist())  # nearest: no blended labels
    assert 0.0 <= float(first["data.input.img"].min()) <= float(first["data.input.img"].max()) <= 1.0
    set_seed(3)
    replay = KITS21.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(6, 10, 10), augment=True)[1]
    np.testing.assert_array_equal(replay["data.input.img"].numpy(), first["data.input.img"].numpy())


def test_kits21_download_from_local_mirror(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    _kits_case(source / "case_00002", seed=2)
    (server.root / "images").mkdir()
    shutil.copy(source / "case_00002" / "imaging.nii.gz", server.root / "images" / "master_00002.nii.gz")
    shutil.copytree(source / "case_00002", server.root / "segs" / "case_00002")
    monkeypatch.setenv("FUSE_KITS21_MIRROR", f"{server.url}/images")
    target = tmp_path / "kits21"
    KITS21.download(target, cases=2, seg_mirror=f"{server.url}/segs", progress_bar=False)
    assert server.requests == ["/images/master_00002.nii.gz", "/segs/case_00002/aggregated_MAJ_seg.nii.gz"]
    for name in ("imaging.nii.gz", "aggregated_MAJ_seg.nii.gz"):
        assert (target / "case_00002" / name).read_bytes() == (source / "case_00002" / name).read_bytes()
    KITS21.download(target, cases=[2], seg_mirror=f"{server.url}/segs", progress_bar=False)  # present: skipped
    assert len(server.requests) == 2
    # a file left by a download not known to be complete (no marker) is fetched again, not trusted forever
    (target / "case_00002" / ".imaging.nii.gz.complete").unlink()
    (target / "case_00002" / "imaging.nii.gz").write_bytes(b"cut short")
    KITS21.download(target, cases=[2], seg_mirror=f"{server.url}/segs", progress_bar=False)
    assert server.requests[2:] == ["/images/master_00002.nii.gz"]
    assert (target / "case_00002" / "imaging.nii.gz").read_bytes() == (
        source / "case_00002" / "imaging.nii.gz"
    ).read_bytes()
    with pytest.raises(ValueError, match=r"cases must be in \[0, 299\], got \[300\]"):
        KITS21.download(target, cases=[300])


def test_kits21_decode_identity() -> None:
    def identity(op: Any) -> str:
        return PipelineDefault("p", [(op, {})]).cache_identity()

    assert identity(OpKits21SampleIDDecode()) == identity(OpKits21SampleIDDecode())
    static_a, static_b = KITS21.static_pipeline("/data/a"), KITS21.static_pipeline("/data/b")
    assert static_a.cache_identity() == KITS21.static_pipeline("/data/a").cache_identity()
    assert static_a.cache_identity() != static_b.cache_identity()


# ---------------------------------------------------------------------------------------------- ISIC 2019

ISIC_IDS = ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000003"]
ISIC_COLUMNS = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
# per id: the class column set to 1, age, site, sex (None: missing) -> expected label
ISIC_ROWS = {
    "ISIC_0000000": ("NV", 55.0, "anterior torso", "female", 1),
    "ISIC_0000001": ("SCC", None, None, None, 7),
    "ISIC_0000002": ("UNK", 85.0, "head/neck", "male", 0),
    "ISIC_0000003": ("MEL", 5.0, "palms/soles", "female", 0),
}


def _isic_tree(data: Path, size: tuple[int, int] = (10, 14)) -> dict[str, np.ndarray]:
    root = data / "ISIC2019"
    (root / "ISIC_2019_Training_Input").mkdir(parents=True)
    rng = np.random.default_rng(0)
    decoded = {}
    for sample_id in ISIC_IDS:
        path = root / "ISIC_2019_Training_Input" / f"{sample_id}.jpg"
        Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(path, quality=95)
        decoded[sample_id] = np.asarray(Image.open(path).convert("RGB"))  # what the loader must give back
    gt = [{"image": i, **{c: float(c == row[0]) for c in ISIC_COLUMNS}} for i, row in ISIC_ROWS.items()]
    pd.DataFrame(gt).to_csv(root / "ISIC_2019_Training_GroundTruth.csv", index=False)
    meta = [
        {"image": i, "age_approx": row[1], "anatom_site_general": row[2], "lesion_id": f"L{n}", "sex": row[3]}
        for n, (i, row) in enumerate(ISIC_ROWS.items())
    ]
    pd.DataFrame(meta).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    (root / "ISIC_2019_Training_Input" / "LICENSE.txt").write_text("not an image")
    return decoded


def _expected_clinical(age: float | None, site: str | None, sex: str | None) -> np.ndarray:
    sites = ["anterior torso", "upper extremity", "posterior torso", "lower extremity", "lateral torso", "head/neck",
             "palms/soles", "oral/genital", "N/A"]  # fmt: skip
    site_vec = np.eye(9)[sites.index(site if site is not None else "N/A")]
    sex_vec = np.eye(3)[["male", "female", "N/A"].index(sex if sex is not None else "N/A")]
    age_vec = np.eye(7)[int(age) // 20 if age is not None and 0 < age < 120 else 6]
    return np.concatenate([site_vec, sex_vec, age_vec])


def test_isic_static_values_labels_clinical_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "isic"
    decoded = _isic_tree(data)
    assert ISIC.sample_ids(data) == ISIC_IDS
    loads = _count_loads(monkeypatch)
    ds = ISIC.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(10, 14), download=False)
    assert len(loads) == 4
    assert len(ds) == 4
    for index, sample_id in enumerate(ISIC_IDS):
        sample = ds[index]
        cls, age, site, sex, label = ISIC_ROWS[sample_id]
        assert sample["data.sample_id"] == sample_id
        assert sample["data.input.img_path"] == f"{sample_id}.jpg"
        img = sample["data.input.img"]
        assert isinstance(img, torch.Tensor)
        assert img.dtype == torch.float32
        assert tuple(img.shape) == (3, 10, 14)
        np.testing.assert_allclose(img.numpy(), decoded[sample_id].transpose(2, 0, 1) / 255.0, atol=1e-6)
        assert sample["data.label"] == label
        assert [sample[f"data.cls_labels.{c}"] for c in ISIC.CLASS_NAMES] == [float(c == cls) for c in ISIC.CLASS_NAMES]
        assert sample["data.input.clinical.age_approx"] == (age if age is not None else -1.0)
        assert sample["data.input.clinical.anatom_site_general"] == (site if site is not None else "N/A")
        assert sample["data.input.clinical.sex"] == (sex if sex is not None else "N/A")
        clinical = sample["data.input.clinical.all"]
        assert clinical.dtype == torch.float32
        np.testing.assert_array_equal(clinical.numpy(), _expected_clinical(age, site, sex))
    loads.clear()
    again = ISIC.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(10, 14), download=False)
    assert loads == []  # served from the cache
    assert again[3]["data.label"] == 0


def test_isic_train_augmentation_and_resize(tmp_path: Path) -> None:
    data = tmp_path / "isic"
    _isic_tree(data)

    def read() -> dict[str, Any]:
        set_seed(11)
        ds = ISIC.dataset(data, tmp_path / "cache", train=True, num_workers=0, resize_to=(8, 8), download=False)
        return ds[0]

    first, second = read(), read()
    assert tuple(first["data.input.img"].shape) == (3, 8, 8)
    assert first["data.input.img"].dtype == torch.float32
    assert tuple(first["data.input.clinical.all"].shape) == (19,)
    np.testing.assert_array_equal(first["data.input.img"].numpy(), second["data.input.img"].numpy())


def test_isic_missing_data_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ISIC_2019_Training_Input/\*\.jpg.*ISIC\.download"):
        ISIC.dataset(tmp_path, tmp_path / "cache", num_workers=0, download=False)


def test_isic_download_from_local_mirror(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    decoded = _isic_tree(source)
    with zipfile.ZipFile(server.root / "ISIC_2019_Training_Input.zip", "w") as zf:
        for path in sorted((source / "ISIC2019" / "ISIC_2019_Training_Input").iterdir()):
            zf.write(path, f"ISIC_2019_Training_Input/{path.name}")
    for name in ("ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv"):
        shutil.copy(source / "ISIC2019" / name, server.root / name)
    monkeypatch.setenv("FUSE_ISIC_MIRROR", server.url)
    data = tmp_path / "isic"
    ds = ISIC.dataset(data, tmp_path / "cache", num_workers=0, resize_to=(10, 14), samples_ids=ISIC_IDS[1:3])
    assert sorted(server.requests) == sorted(
        ["/ISIC_2019_Training_Input.zip", "/ISIC_2019_Training_GroundTruth.csv", "/ISIC_2019_Training_Metadata.csv"]
    )
    assert sorted(p.name for p in (data / "ISIC2019" / "ISIC_2019_Training_Input").iterdir()) == [
        "ISIC_0000001.jpg",
        "ISIC_0000002.jpg",
    ]
    assert [ds[i]["data.label"] for i in range(2)] == [7, 0]
    np.testing.assert_allclose(
        ds[1]["data.input.img"].numpy(), decoded["ISIC_0000002"].transpose(2, 0, 1) / 255.0, atol=1e-6
    )
    ISIC.download(data, progress=False)  # everything present: no request
    assert len(server.requests) == 3


def test_isic_encode_metadata_and_identity() -> None:
    sample = NDict({"site": "oral/genital", "sex": "unknown", "age": 119.0})
    out = OpEncodeMetaData(items_to_encode=["site", "age"])(
        sample, key_site="site", key_sex="sex", key_age="age", out_prefix="enc"
    )
    assert out["enc.site"].tolist() == np.eye(9)[7].tolist()
    assert out["enc.age"].tolist() == np.eye(7)[5].tolist()
    assert "enc.sex" not in out
    with pytest.raises(ValueError, match="items_to_encode must be a list of 'site', 'sex', 'age', got \\['weight'\\]"):
        OpEncodeMetaData(items_to_encode=["weight"])

    def identity(op: Any) -> str:
        return PipelineDefault("p", [(op, {})]).cache_identity()

    assert identity(OpEncodeMetaData()) == identity(OpEncodeMetaData())
    assert identity(OpEncodeMetaData()) != identity(OpEncodeMetaData(items_to_encode=["site"]))


# ---------------------------------------------------------------------------------------------- STOIC21

STOIC_PATIENTS = {17: ("035Y", "F", "2.5", 1, 0), 4: ("085Y", "M", "1.0", 1, 1), 230: ("055Y", "F", "5", 0, 0)}


def _stoic_tree(data: Path) -> dict[int, np.ndarray]:
    sitk = pytest.importorskip("SimpleITK")
    (data / "data" / "mha").mkdir(parents=True)
    (data / "metadata").mkdir()
    volumes = {}
    for patient, (age, sex, thickness, _, _) in STOIC_PATIENTS.items():
        volume = np.random.default_rng(patient).integers(-1000, 1500, size=(4, 6, 5)).astype(np.int16)  # z, y, x
        image = sitk.GetImageFromArray(volume)
        for key, value in (("PatientID", f"{patient:04d}"), ("PatientAge", age), ("PatientSex", sex)):
            image.SetMetaData(key, value)
        image.SetMetaData("SliceThickness", thickness)
        sitk.WriteImage(image, str(data / "data" / "mha" / f"{patient}.mha"))
        volumes[patient] = volume
    rows = [{"PatientID": p, "probCOVID": v[3], "probSevere": v[4]} for p, v in STOIC_PATIENTS.items()]
    pd.DataFrame(rows).to_csv(data / "metadata" / "reference.csv", index=False)
    return volumes


def test_stoic21_values_clinical_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "stoic"
    volumes = _stoic_tree(data)
    assert STOIC21.sample_ids(data) == ["data/mha/17.mha", "data/mha/230.mha", "data/mha/4.mha"]
    loads = _count_loads(monkeypatch)
    ds = STOIC21.dataset(data, tmp_path / "cache", num_workers=0, output_shape=(4, 6, 5), clip_range=(-200.0, 800.0))
    assert len(loads) == 3
    for index, patient in enumerate((17, 230, 4)):
        age, sex, thickness, covid, severe = STOIC_PATIENTS[patient]
        sample = ds[index]
        img = sample["data.input.img"]
        assert img.dtype == torch.float32
        assert tuple(img.shape) == (1, 4, 6, 5)
        expected = (np.clip(volumes[patient].astype(np.float64), -200, 800) + 200) / 1000
        np.testing.assert_allclose(img[0].numpy(), expected, atol=1e-6)
        assert sample["data.metadata.PatientID"] == patient
        assert sample["data.gt.PatientID"] == patient
        assert (sample["data.gt.probCOVID"], sample["data.gt.probSevere"]) == (covid, severe)
        ages = ["035Y", "045Y", "055Y", "065Y", "075Y", "085Y"]
        expected_clinical = [float(sex == "M"), *np.eye(6)[ages.index(age)].tolist(), float(thickness)]
        assert sample["data.input.clinical"].dtype == torch.float32
        assert sample["data.input.clinical"].tolist() == expected_clinical
    loads.clear()
    STOIC21.dataset(data, tmp_path / "cache", num_workers=0, output_shape=(4, 6, 5))
    assert loads == []


def test_stoic21_resize_train_and_layout_errors(tmp_path: Path) -> None:
    data = tmp_path / "stoic"
    _stoic_tree(data)
    set_seed(5)
    ds = STOIC21.dataset(data, tmp_path / "cache", num_workers=0, output_shape=(3, 8, 8), train=True)
    assert tuple(ds[0]["data.input.img"].shape) == (1, 3, 8, 8)
    STOIC21.download(data)  # the data is there: nothing to say
    (data / "metadata" / "reference.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"reference\.csv' not found.*stoic2021\.grand-challenge\.org"):
        STOIC21.download(data)
    with pytest.raises(FileNotFoundError, match=r"no \.mha file in .*data/mha/\*\.mha and"):
        STOIC21.dataset(tmp_path / "empty", tmp_path / "cache", num_workers=0)


# ---------------------------------------------------------------------------------------------- KNIGHT


def _knight_record(case: str, **changes: Any) -> dict[str, Any]:
    record = {
        "case_id": case,
        "age_at_nephrectomy": 60,
        "body_mass_index": 30.0,
        "gender": "Male",
        "comorbidities": {"diabetes": False, "hypertension": False},
        "smoking_history": "never_smoked",
        "radiographic_size": 3.0,
        "last_preop_egfr": {"value": 45},
        "voxel_spacing": {"x_spacing": 0.7, "y_spacing": 0.8, "z_spacing": 3.0},
        "aua_risk_group": "low_risk",
    }
    return {**record, **changes}


KNIGHT_RECORDS = [
    # -> clinical.all (11), task_1, task_2
    (_knight_record("case_00000"), [0.5, 0.6, 0.2, 0.5, 1, 0, 1, 0, 1, 0, 0], 0, 1),
    (
        _knight_record(
            "case_00001",
            gender="female",
            age_at_nephrectomy=None,
            comorbidities={"diabetes": True},
            smoking_history="current_smoker",
            radiographic_size=None,
            last_preop_egfr={"value": ">=90"},
            aua_risk_group="very_high_risk",
        ),
        [-1.0, 0.6, 4.1 / 15, 1.0, 0, 1, 0, 1, 0, 0, 1],
        1,
        4,
    ),
    (
        _knight_record("case_00002", body_mass_index=120.0, last_preop_egfr=None, aua_risk_group="high_risk"),
        [0.5, -1.0, 0.2, 77 / 90, 1, 0, 1, 0, 1, 0, 0],
        1,
        3,
    ),
]


def _knight_tree(data: Path) -> dict[str, np.ndarray]:
    images = {}
    for index, (record, _, _, _) in enumerate(KNIGHT_RECORDS):
        case = record["case_id"]
        image = np.random.default_rng(index).integers(-200, 400, size=(6, 8, 4)).astype(np.int16)
        (data / case).mkdir(parents=True)
        nib.save(nib.Nifti1Image(image, np.eye(4)), data / case / "imaging.nii.gz")
        images[case] = image
    (data / "knight.json").write_text(json.dumps([r[0] for r in KNIGHT_RECORDS]))
    return images


def test_knight_values_labels_clinical_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "knight"
    images = _knight_tree(data)
    ids = KNIGHT.sample_ids(data)
    assert ids == ["case_00000", "case_00001", "case_00002"]
    loads = _count_loads(monkeypatch)
    split = {"train": ["case_00000"], "val": ids}
    _, ds = KNIGHT.dataset(data, tmp_path / "cache", split=split, resize_to=(4, 6, 8), num_workers=0)  # type: ignore[misc]
    assert len(loads) == 4
    for index, (record, clinical, task_1, task_2) in enumerate(KNIGHT_RECORDS):
        sample = ds[index]
        assert sample["data.input.case_id"] == record["case_id"]
        img = sample["data.input.img"]
        assert img.dtype == torch.float32
        assert tuple(img.shape) == (1, 4, 6, 8)
        expected = np.moveaxis((np.clip(images[record["case_id"]].astype(np.float64), -62, 301) - 104.0) / 75.3, -1, 0)
        np.testing.assert_allclose(img[0].numpy(), expected, atol=1e-5)
        np.testing.assert_allclose(sample["data.input.clinical.all"].numpy(), clinical, atol=1e-6)
        assert sample["data.gt.gt_global.task_1_label"] == task_1
        assert sample["data.gt.gt_global.task_2_label"] == task_2
        assert sample["data.input.clinical.voxel_spacing"] == (3.0, 0.8, 0.7)
    loads.clear()
    KNIGHT.dataset(data, tmp_path / "cache", split=split, resize_to=(4, 6, 8), num_workers=0)
    assert loads == []


def test_knight_split_and_test_layout(tmp_path: Path) -> None:
    data = tmp_path / "knight"
    _knight_tree(data)
    set_seed(2)
    train = KNIGHT.dataset(data, tmp_path / "cache", sample_ids=["case_00001"], resize_to=(3, 4, 4), num_workers=0)
    assert isinstance(train, DatasetDefault)
    assert tuple(train[0]["data.input.img"].shape) == (1, 3, 4, 4)
    assert train[0]["data.gt.gt_global.task_2_label"] == 4
    # the test layout: images/<id>.nii.gz and features.json, no labels
    (data / "images").mkdir()
    shutil.copy(data / "case_00001" / "imaging.nii.gz", data / "images" / "case_00009.nii.gz")
    features = {k: v for k, v in _knight_record("case_00009").items() if k != "aua_risk_group"}
    (data / "features.json").write_text(json.dumps([features]))
    test = KNIGHT.dataset(data, tmp_path / "cache", split={"test": ["case_00009"]}, resize_to=(3, 4, 4), num_workers=0)
    assert isinstance(test, DatasetDefault)
    sample = test[0]
    assert "data.gt.gt_global.task_1_label" not in sample
    assert sample["data.input.img_path"] == "images/case_00009.nii.gz"


def test_knight_errors_and_identity(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no train sample ids.*knight\.json.*github\.com/neheller/KNIGHT"):
        KNIGHT.dataset(tmp_path, tmp_path / "cache", split={"train": [], "val": []})
    with pytest.raises(ValueError, match="needs sample_ids or split"):
        KNIGHT.dataset(tmp_path, tmp_path / "cache")
    (tmp_path / "knight.json").write_text(json.dumps([_knight_record("case_00000")]))

    def identity() -> str:
        return PipelineDefault("p", [(OpClinicalLoad(tmp_path), {})]).cache_identity()

    before = identity()
    assert identity() == before
    (tmp_path / "knight.json").write_text(json.dumps([_knight_record("case_00000", body_mass_index=31.0)]))
    assert identity() != before  # the clinical data's content is part of the identity


# ---------------------------------------------------------------------------------------------- CMMD


def _mammogram(path: Path, pixels: np.ndarray, side: str, view: str) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation as MG
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MG
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MG
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "MG"
    ds.ImageLaterality = side
    code = Dataset()
    code.CodeMeaning = view
    ds.ViewCodeSequence = [code]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _breast(on_right: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 60x60 image, dark but for a ramp in rows 12-47, columns 30-59 (or 0-29); and the expected [0, 1] crop with
    the breast on the left (column 0 of the crop touches the image border)."""
    image = np.zeros((60, 60))
    ramp = np.tile(100.0 + 5.0 * np.arange(30), (36, 1))  # brightest at the outer border when on the right
    if on_right:
        image[12:48, 30:] = ramp
        crop = ramp[:, ::-1]  # flipped: the outer border goes to the left
    else:
        image[12:48, :30] = ramp[:, ::-1]
        crop = ramp[:, ::-1]
    return image, (crop - crop.min()) / (crop.max() - crop.min())


def _cmmd_tree(data: Path) -> dict[str, np.ndarray]:
    rows = [
        {"ID1": "D1-0001", "LeftRight": "R", "Age": 44, "number": 1, "abnormality": "mass", "classification": "Benign", "subtype": None},
        {"ID1": "D1-0002", "LeftRight": "L", "Age": 61, "number": 1, "abnormality": "calcification", "classification": "Malignant", "subtype": "Luminal B"},
        {"ID1": "D1-0002", "LeftRight": "R", "Age": 61, "number": 1, "abnormality": "mass", "classification": "Malignant", "subtype": "triple negative"},
        {"ID1": "D1-0003", "LeftRight": "L", "Age": 50, "number": 1, "abnormality": "mass", "classification": "Benign", "subtype": None},  # no image
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(data / "CMMD_clinicaldata_revision.csv", index=False)
    expected = {}
    for patient, side, view, name in (
        ("D1-0001", "R", "cranio-caudal", "1-1.dcm"),
        ("D1-0002", "L", "medio-lateral oblique", "1-1.dcm"),
        ("D1-0002", "R", "cranio-caudal", "1-2.dcm"),
    ):
        image, crop = _breast(on_right=side == "R")
        path = data / "CMMD" / patient / "study" / name
        _mammogram(path, image, side, view)
        expected[f"CMMD/{patient}/study/{name}"] = crop
    return expected


def test_cmmd_values_labels_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "cmmd"
    data.mkdir()
    expected = _cmmd_tree(data)
    table, ids = CMMD.merge_clinical_data_with_dicom_tags(data, tmp_path / "misc", "classification")
    assert ids == list(expected)
    assert table["view"].tolist() == ["cranio-caudal", "medio-lateral oblique", "cranio-caudal"]
    loads = _count_loads(monkeypatch)
    kwargs: dict[str, Any] = {"num_workers": 0, "resize_to": (36, 30), "padding": (2, 3)}
    ds = CMMD.dataset(data, tmp_path / "misc", "classification", tmp_path / "cache", **kwargs)
    assert len(loads) == 3
    labels = {ids[0]: (0, 4, "D1-0001"), ids[1]: (1, 1, "D1-0002"), ids[2]: (1, 3, "D1-0002")}
    for index, sample_id in enumerate(ids):
        sample = ds[index]
        img = sample["data.input.img"]
        assert img.dtype == torch.float32
        assert tuple(img.shape) == (1, 40, 36)
        canvas = np.zeros((40, 36))
        canvas[2:38, 3:33] = expected[sample_id]
        np.testing.assert_allclose(img[0].numpy(), canvas, atol=1e-6)
        assert (sample["data.gt.classification"], sample["data.gt.subtype"], sample["data.patientID"]) == labels[
            sample_id
        ]
    loads.clear()
    again = CMMD.dataset(data, tmp_path / "misc", "classification", tmp_path / "cache", **kwargs)
    assert loads == []
    assert len(again) == 3
    subtype_ids = CMMD.merge_clinical_data_with_dicom_tags(data, tmp_path / "misc", "subtype")[1]
    assert subtype_ids == ids[1:]  # the benign image has no subtype


def test_cmmd_train_and_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"CMMD_clinicaldata_revision\.csv' not found.*tcia"):
        CMMD.dataset(tmp_path, tmp_path / "misc", "classification", tmp_path / "cache", num_workers=0)
    data = tmp_path / "cmmd"
    data.mkdir()
    _cmmd_tree(data)
    with pytest.raises(ValueError, match="target must be a column"):
        CMMD.merge_clinical_data_with_dicom_tags(data, tmp_path / "misc", "grade")
    set_seed(1)
    ds = CMMD.dataset(
        data, tmp_path / "misc", "classification", tmp_path / "cache", num_workers=0, train=True,
        resize_to=(18, 15), padding=(0, 0),
    )  # fmt: skip
    assert tuple(ds[0]["data.input.img"].shape) == (1, 18, 15)


# ---------------------------------------------------------------------------------------------- PI-CAI

PICAI_SHAPE = (4, 6, 5)  # z, y, x (SimpleITK's array order)


def _picai_tree(root: Path) -> dict[str, dict[str, np.ndarray]]:
    sitk = pytest.importorskip("SimpleITK")
    data, segs = root / "images", root / "labels"
    segs.mkdir(parents=True)
    studies = {
        "10000_1000000": ("YES", 3),
        "10001_1000001": ("NO", 0),
        "10002_1000002": ("NO", 1),
        "10003_1000003": ("YES", 2),
    }
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for n, sid in enumerate(studies):
        patient = sid.split("_")[0]
        (data / patient).mkdir(parents=True)
        rng = np.random.default_rng(n)
        arrays[sid] = {}
        for seq in ("_t2w", "_adc"):
            if sid == "10002_1000002" and seq == "_adc":
                continue  # a missing sequence: the sample is dropped
            volume = rng.integers(0, 900, size=PICAI_SHAPE).astype(np.int16)
            sitk.WriteImage(sitk.GetImageFromArray(volume), str(data / patient / f"{sid}{seq}.mha"))
            arrays[sid][seq] = volume
        gland = rng.integers(0, 2, size=PICAI_SHAPE).astype(np.uint8)
        arrays[sid]["seg"] = gland
        if sid != "10003_1000003":  # a missing segmentation: the sample is dropped
            nib.save(nib.Nifti1Image(np.transpose(gland, (2, 1, 0)), np.eye(4)), segs / f"{sid}.nii.gz")  # x, y, z
    rows = [
        {"patient_id": int(sid.split("_")[0]), "study_id": int(sid.split("_")[1]), "mri_date": "2020-01-01",
         "patient_age": 60 + n, "case_ISUP": isup, "case_csPCa": cspca, "center": "RUMC"}
        for n, (sid, (cspca, isup)) in enumerate(studies.items())
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "marksheet.csv", index=False)
    return arrays


def _picai_paths(root: Path, cache: Path) -> dict[str, Any]:
    return {
        "clinical_file": root / "marksheet.csv",
        "data_dir": root / "images",
        "seg_dir": root / "labels",
        "cache_dir": cache,
    }


def test_picai_values_labels_drops_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "picai"
    arrays = _picai_tree(root)
    cfg = {"series_config": ["_t2w", "_adc"], "target": "case_csPCa", "num_workers": 0, "resize_to": PICAI_SHAPE}
    loads = _count_loads(monkeypatch)
    with pytest.warns(UserWarning, match="dropped") as caught:
        ds = PICAI.dataset(_picai_paths(root, tmp_path / "cache"), cfg)
    messages = sorted(str(w.message) for w in caught)
    assert "'10002_1000002' dropped: sequence '_adc'" in messages[0]
    assert "'10003_1000003' dropped: segmentation file" in messages[1]
    assert len(loads) == 2 * 3 + 1 + 2  # two complete studies; one with a missing sequence; one without a seg
    assert len(ds) == 2
    for index, (sid, cspca, isup) in enumerate((("10000_1000000", 1, 3), ("10001_1000001", 0, 0))):
        sample = ds[index]
        assert sample["data.sample_id"] == sid
        for seq in ("_t2w", "_adc"):
            img = sample[f"data.input.img{seq}"]
            assert img.dtype == torch.float32
            assert tuple(img.shape) == (1, *PICAI_SHAPE)
            volume = arrays[sid][seq].astype(np.float64)
            np.testing.assert_allclose(
                img[0].numpy(), (volume - volume.min()) / (volume.max() - volume.min()), atol=1e-6
            )
        seg = sample["data.gt.seg"]
        assert seg.dtype == torch.int32
        np.testing.assert_array_equal(seg[0].numpy(), arrays[sid]["seg"])  # back in the images' (z, y, x) order
        assert (sample["data.gt.classification"], sample["data.gt.subtype"]) == (cspca, isup)
        assert sample["data.gt.classification_one_hot"].tolist() == np.eye(2)[cspca].tolist()
        assert sample["data.patientID"] == int(sid.split("_")[0])
    loads.clear()
    PICAI.dataset(_picai_paths(root, tmp_path / "cache"), cfg)
    assert loads == []


def test_picai_train_resize_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "picai"
    arrays = _picai_tree(root)
    aug = {"apply_aug_prob": 1.0, "rotate": (-30.0, 30.0), "scale": (0.9, 1.1), "flip": 0.5, "translate": (-2, 2)}
    cfg = {
        "series_config": ["_t2w"],
        "target": "case_csPCa",
        "num_workers": 0,
        "resize_to": (3, 8, 8),
        "aug_params": aug,
    }
    set_seed(4)
    ds = PICAI.dataset(_picai_paths(root, tmp_path / "cache"), cfg, train=True, run_sample=3)  # not the seg-less one
    assert len(ds) == 3  # only _t2w is asked for: the study without _adc is kept
    sample = ds[0]
    assert tuple(sample["data.input.img_t2w"].shape) == (1, 3, 8, 8)
    assert tuple(sample["data.gt.seg"].shape) == (1, 3, 8, 8)
    assert set(np.unique(sample["data.gt.seg"].numpy()).tolist()) <= set(
        np.unique(arrays["10000_1000000"]["seg"]).tolist()
    )
    with pytest.raises(ValueError, match="needs aug_params"):
        PICAI.dynamic_pipeline([{"key": "data.input.img_t2w"}], train=True)
    with pytest.raises(FileNotFoundError, match=r"marksheet\.csv' not found.*zenodo"):
        PICAI.dataset({**_picai_paths(root, tmp_path / "cache"), "clinical_file": root / "x" / "marksheet.csv"}, cfg)
