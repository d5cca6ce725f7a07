import pytest
import yaml

from sdt.report import synthetic

BASE = {"seed": 0, "train": "train.yaml", "search": {"method": "greedy"}}


def sweep_file(root, name="synthetic", report=None, store=None) -> str:
    """A sweep file for the synthetic sweep (it loads; the report reads its report:)."""
    (root / "sweeps").mkdir(exist_ok=True)
    (root / "sweeps" / "base.yaml").write_text(yaml.safe_dump(BASE))
    doc = {"name": name, "experiment": "search", "base": "base.yaml", "seeds": [0, 1, 2],
           "studies": {"trees": {"grid": {"search.method": ["dts"]}}}}
    if report is not None:
        doc["report"] = report
    if store is not None:
        doc["store"] = store
    path = root / "sweeps" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A synthetic sweep (3 seeds x 16 queries, known effects, one failed and one pending
    configuration) in a real store with real run folders."""
    root = tmp_path_factory.mktemp("synth")
    url = synthetic.build(root)
    return root, url
