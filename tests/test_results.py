import json

from blurbench.results import ResultsStore


def _row(method, dataset, id_, value=1.0):
    return {"method": method, "dataset": dataset, "id": id_, "metrics": {"psnr": value}, "seconds": 0.1}


def test_merge_dedupes_and_keeps_first(tmp_path):
    store = ResultsStore(tmp_path)
    store.append_partial(0, [_row("a", "d", "x", 1.0), _row("a", "d", "y", 2.0)])
    store.append_partial(1, [_row("a", "d", "x", 9.0), _row("a", "d", "z", 3.0)])
    rows = store.merge()
    assert [(r["id"], r["metrics"]["psnr"]) for r in rows] == [("x", 1.0), ("y", 2.0), ("z", 3.0)]
    assert store.partial_files() == []
    assert len(store.results_path.read_text().splitlines()) == 3
    store.append_partial(0, [_row("a", "d", "y", 5.0)])
    assert len(store.merge()) == 3


def test_torn_last_line_is_skipped_not_fatal(tmp_path):
    store = ResultsStore(tmp_path)
    store.append_partial(0, [_row("a", "d", "x")])
    with open(store.partial_dir / "rank0.jsonl", "a") as f:
        f.write('{"method": "a", "dataset": "d", "id": "y", "metr')  # killed mid-write
    rows = store.load()
    assert [r["id"] for r in rows] == ["x"]
    assert store.done() == {("a", "d", "x")}
    json.loads(store.results_path.read_text() if store.results_path.exists() else "{}")
