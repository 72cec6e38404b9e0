"""examples/ehr_transformer: the PhysioNet 2012 parser reads what the generator wrote, rejects malformed files
naming the line, and the example runs end to end on a tiny synthetic set with a report that matches its
predictions file."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "ehr_transformer"


def _import(name: str) -> ModuleType:
    if str(EXAMPLE_DIR) not in sys.path:  # the example's modules import each other, as when run as scripts
        sys.path.insert(0, str(EXAMPLE_DIR))
    spec = importlib.util.spec_from_file_location(name, EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _import("make_synthetic_physionet")


@pytest.fixture(scope="module")
def physionet() -> ModuleType:
    return _import("physionet2012")


@pytest.fixture(scope="module")
def tokens_module() -> ModuleType:
    return _import("ehr_tokens")


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory: pytest.TempPathFactory, generator: ModuleType) -> tuple[Path, list[int]]:
    out = tmp_path_factory.mktemp("physionet")
    return out, generator.make_set(out, n=40, hours=48, seed=1)


def test_parser_reads_what_the_generator_wrote(synthetic_set: tuple[Path, list[int]], physionet: ModuleType) -> None:
    out, deaths = synthetic_set
    records, labels = physionet.read_set(out / "set-a", out / "Outcomes-a.txt")
    assert labels == deaths
    assert [r.record_id for r in records] == [str(132539 + i) for i in range(40)]
    outcomes = pd.read_csv(out / "Outcomes-a.txt")
    assert outcomes["In-hospital_death"].tolist() == labels
    for record in records[:3]:  # an independent read of the files
        rows = pd.read_csv(out / "set-a" / f"{record.record_id}.txt")
        static = rows.iloc[:6]
        assert static["Parameter"].tolist() == ["RecordID", "Age", "Gender", "Height", "ICUType", "Weight"]
        assert (static["Time"] == "00:00").all()
        assert int(static["Value"].iloc[0]) == int(record.record_id)
        for name, value in zip(static["Parameter"].iloc[1:], static["Value"].iloc[1:], strict=True):
            parsed = record.static[name]
            assert math.isnan(parsed) if value == -1 else parsed == value, name
        events = rows.iloc[6:]
        assert Counter(events["Parameter"]) == Counter(event.parameter for event in record.events)
        minutes = [int(t[:2]) * 60 + int(t[3:]) for t in events["Time"]]
        assert minutes == [event.minute for event in record.events]
        assert events["Value"].tolist() == [event.value for event in record.events]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("00:00,RecordID,7\n00:00,Age,54\n", 1, "expected the header 'Time,Parameter,Value'"),
        ("Time,Parameter,Value\n00:00,RecordID,7\n00:00,Age,54\n00:07,HR,seventy\n", 4, "value 'seventy' of HR"),
        ("Time,Parameter,Value\n00:00,RecordID,7\n00:05,HeartRate,70\n", 3, "unknown parameter 'HeartRate'"),
        ("Time,Parameter,Value\n00:00,RecordID,7\n0:75,HR,70\n", 3, "time '0:75' is not HH:MM"),
        ("Time,Parameter,Value\n00:00,RecordID,8\n", 2, "RecordID 8 differs from the file name"),
        ("Time,Parameter,Value\n00:00,RecordID,7\n00:05,HR\n", 3, "expected 3 fields"),
    ],
)
def test_a_malformed_record_names_the_file_and_line(
    tmp_path: Path, physionet: ModuleType, content: str, line: int, message: str
) -> None:
    path = tmp_path / "7.txt"
    path.write_text(content)
    with pytest.raises(physionet.RecordFormatError) as error:
        physionet.read_record(path)
    assert f"{path}: line {line}: " in str(error.value)
    assert message in str(error.value)


def test_implausible_values_are_removed_and_counted(tmp_path: Path, physionet: ModuleType) -> None:
    path = tmp_path / "7.txt"
    path.write_text(
        "Time,Parameter,Value\n00:00,RecordID,7\n00:00,Weight,0\n00:00,Height,-1\n"
        "00:05,HR,0\n00:05,HR,70\n00:06,Urine,0\n00:07,Weight,12\n"
    )
    record = physionet.read_record(path)
    assert record.static["Weight"] == 0.0
    assert math.isnan(record.static["Height"])
    assert physionet.drop_implausible([record]) == 3  # the weights of 0 and 12 kg, the heart rate of 0
    assert math.isnan(record.static["Weight"])
    assert [(e.parameter, e.value) for e in record.events] == [("HR", 70.0), ("Urine", 0.0)]  # no urine is real


def test_tokens_group_windows_fit_bins_on_training_only_and_keep_the_latest(
    tokens_module: ModuleType, physionet: ModuleType
) -> None:
    Event, Record = physionet.Event, physionet.Record
    static = {"Age": 50.0, "Gender": 1.0, "Height": 170.0, "ICUType": 2.0, "Weight": 70.0}
    train = [
        Record(str(i), dict(static), [Event(m, "HR", float(60 + i + m)) for m in range(0, 300, 30)]) for i in range(20)
    ]
    binning = tokens_module.fit_binning(train, num_bins=4)
    hr_values = sorted(e.value for r in train for e in r.events)
    # a brute-force quartile count: the bin is the number of inner edges at or below the value
    edges = [pd.Series(hr_values).quantile(q) for q in (0.25, 0.5, 0.75)]
    for value in (10.0, hr_values[0], 150.0, 400.0):
        assert binning.word("HR", value) == f"HR_{sum(value >= e for e in edges)}"
    assert binning.word("Gender", 1.0) == "Gender_0"  # one category seen in training
    assert binning.word("Gender", 0.0) == "UNK"  # a category never seen in training
    assert binning.word("Lactate", 2.0) == "UNK"  # a parameter never measured in training
    vocabulary = binning.vocabulary()
    assert vocabulary["PAD"] == 0
    assert len(set(vocabulary.values())) == len(vocabulary)

    record = train[0]  # 10 measurements, 2 per hour: 5 one-hour windows
    words = tokens_module.tokens(record, binning, window_minutes=60, max_len=40)
    assert words[:5] == ["CLS", "Age_0", "Gender_0", "BMI_0", "SEP_STATIC"]
    assert words.count("SEP") == 5
    assert len(words) == 40
    assert words[-1] == "PAD"
    # too short for every window: the latest windows are kept, whole
    short = tokens_module.tokens(record, binning, window_minutes=60, max_len=12)
    expected_last = [binning.word("HR", e.value) for e in record.events[-4:]]
    assert short[5:] == [*expected_last[:2], "SEP", *expected_last[2:], "SEP", "PAD"]
    ids = tokens_module.token_ids(short, vocabulary)
    assert ids[-1] == 0
    assert all(isinstance(i, int) for i in ids)
    for seed in range(20):  # the training augmentation keeps at least half of the windows
        start, stop = tokens_module.random_sub_trajectory(9, random.Random(seed))
        assert 0 <= start <= 2
        assert 7 <= stop <= 9


def test_trains_predicts_and_reports(
    synthetic_set: tuple[Path, list[int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _import("train_and_evaluate")
    data, _ = synthetic_set
    out = tmp_path / "run"
    arguments = ["--physionet-dir", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "8"]
    arguments += ["--max-len", "48", "--d-model", "16", "--layers", "1", "--heads", "2", "--bootstraps", "50"]
    assert example.main([*arguments, "--accelerator", "cpu"]) == 0

    stdout = capsys.readouterr().out
    split = pd.read_csv(out / "split.csv", dtype={"RecordID": str})
    predictions = pd.read_csv(out / "predictions.csv", dtype={"RecordID": str})
    assert list(predictions.columns) == ["RecordID", "prob_death", "in_hospital_death"]
    assert sorted(predictions["RecordID"]) == sorted(split.loc[split["split"] == "test", "RecordID"])
    outcomes = pd.read_csv(data / "Outcomes-a.txt", dtype={"RecordID": str}).set_index("RecordID")
    assert (
        predictions["in_hospital_death"].tolist() == outcomes.loc[predictions["RecordID"], "In-hospital_death"].tolist()
    )
    assert predictions["prob_death"].between(0, 1).all()

    report = json.loads((out / "report" / "results.json").read_text())
    auc = report["metrics"]["auc"]
    expected = roc_auc_score(predictions["in_hospital_death"], predictions["prob_death"])
    assert auc["value"] == pytest.approx(expected, abs=1e-12)
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert f"test ROC AUC: {expected:.3f}" in stdout
    vocabulary = json.loads((out / "vocabulary.json").read_text())
    assert vocabulary["PAD"] == 0
    assert "HR_0" in vocabulary


def test_the_vocabulary_comes_from_the_training_stays_only(
    synthetic_set: tuple[Path, list[int]], tmp_path: Path
) -> None:
    example = _import("train_and_evaluate")
    data, _ = synthetic_set
    args = example.parse_args(["--physionet-dir", str(data), "--out", str(tmp_path), "--max-len", "48"])
    cohort = example.load_cohort(data, "a", args.min_hours, args.min_windows, args.window_minutes)
    split = example.split_stays(cohort, seed=0)
    assert sorted(itertools.chain(*split.values())) == sorted(cohort.records)
    train_ages = sorted(cohort.records[i].static["Age"] for i in split["train"])
    datasets, vocabulary = example.make_datasets(cohort, split, args)
    sample = datasets["test"][0]
    assert sample["data.input.token_ids"].shape == (48,)
    assert sample["data.gt.death"] == cohort.deaths[sample["data.sample_id"]]
    # the age bins are the training stays' quartiles
    words = {index: word for word, index in vocabulary.items()}
    age_word = words[int(sample["data.input.token_ids"][1])]
    age = cohort.records[sample["data.sample_id"]].static["Age"]
    quartiles = pd.Series(train_ages).quantile([0.25, 0.5, 0.75]).tolist()
    assert age_word == f"Age_{sum(age >= q for q in quartiles)}"
