"""Local OpenTSLM-layout files: good lines load, bad ones name the file, line and key."""

import json

import numpy as np
import pytest

from sdt.config.schema import JsonlDataset
from sdt.data import build_dataset
from sdt.data.jsonl import read_jsonl
from sdt.errors import UserError


def _line(i=0, **change):
    obj = {"pre_prompt": f"Describe {i}.", "time_series_text": ["x", "y"],
           "time_series": [[1.0, 2.0, float(i)], [0, 1]], "post_prompt": "Caption:",
           "answer": f" rising {i}", "id": i}
    obj.update(change)
    return json.dumps(obj)


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_samples_and_keeps_extra_keys_in_meta(tmp_path):
    path = _write(tmp_path / "a.jsonl", [_line(0), "", _line(1, meta={"task": "caption"})])
    samples = read_jsonl(path)
    assert len(samples) == 2
    s = samples[1]
    assert (s.pre_prompt, s.post_prompt, s.answer) == ("Describe 1.", "Caption:", " rising 1")
    assert s.series_text == ["x", "y"]
    np.testing.assert_array_equal(s.series[0], [1.0, 2.0, 1.0])
    assert s.meta == {"id": 1, "task": "caption"}
    assert read_jsonl(path, limit=1)[0].answer == " rising 0"


@pytest.mark.parametrize("bad, message", [
    ("{not json", "line 3: invalid JSON"),
    ("[1, 2]", "line 3: expected a JSON object"),
    (_line(answer=None), "line 3: answer: expected a string"),
    (json.dumps({"pre_prompt": "", "time_series_text": [], "time_series": [],
                 "post_prompt": ""}), "line 3: answer: missing key"),
    (_line(time_series=[[1, "a"], [1]]), r"line 3: time_series\[0\]: expected a non-empty"),
    (_line(time_series=[1.0, 2.0]), r"line 3: time_series\[0\]"),
    (_line(time_series=[[1.0], []]), r"line 3: time_series\[1\]"),
    (_line(time_series=[[1.0]]), "line 3: time_series: 1 series but 2 time_series_text"),
    (_line(time_series_text="x"), "line 3: time_series_text: expected a list of strings"),
    (_line(meta=[1]), "line 3: meta: expected an object"),
])
def test_malformed_lines_name_file_line_and_key(tmp_path, bad, message):
    path = _write(tmp_path / "bad.jsonl", [_line(0), _line(1), bad])
    with pytest.raises(UserError, match=message) as info:
        read_jsonl(path)
    assert str(info.value).startswith(f"{path}: line 3: ")


def test_nan_in_a_series_is_rejected(tmp_path):
    path = _write(tmp_path / "nan.jsonl", ['{"pre_prompt": "", "time_series_text": ["x"], '
                                           '"time_series": [[1, NaN]], "post_prompt": "", '
                                           '"answer": ""}'])
    with pytest.raises(UserError, match=r"line 1: time_series\[0\]"):
        read_jsonl(path)


def test_splits_from_files_and_seeded_val_holdout(tmp_path):
    train = _write(tmp_path / "train.jsonl", [_line(i) for i in range(50)])
    test = _write(tmp_path / "test.jsonl", [_line(100 + i) for i in range(7)])
    cfg = JsonlDataset(train_path=str(train), test_path=str(test), num_samples_val=3)
    split = {sp: build_dataset(cfg, sp, seed=0) for sp in ("train", "val", "test")}
    assert [len(v) for v in split.values()] == [47, 3, 7]
    ids = {sp: {s.meta["id"] for s in v} for sp, v in split.items()}
    assert ids["train"] | ids["val"] == set(range(50)) and not ids["train"] & ids["val"]
    assert {s.meta["id"] for s in build_dataset(cfg, "val", seed=1)} != ids["val"]
    val = _write(tmp_path / "val.jsonl", [_line(200)])
    with_val = cfg.model_copy(update={"val_path": str(val), "num_samples_train": 10})
    assert [s.meta["id"] for s in build_dataset(with_val, "val", 0)] == [200]
    assert [s.meta["id"] for s in build_dataset(with_val, "train", 0)] == list(range(10))
    eval_only = JsonlDataset(test_path=str(test))
    assert build_dataset(eval_only, "train", 0) == []
    assert len(build_dataset(eval_only, "test", 0)) == 7


def test_missing_file_names_the_key(tmp_path):
    cfg = JsonlDataset(test_path=str(tmp_path / "nope.jsonl"))
    with pytest.raises(UserError, match="dataset.test_path: file not found"):
        build_dataset(cfg, "test", seed=0)
