"""Published numbers: every row of published.yaml is on the seed line it cites, and every published number in
``leaderboards/`` names a seed table."""

import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from blurbench.leaderboard.publish import published_entries

SEEDS = Path(__file__).parents[2] / "shared/seeds"  # CI copies shared/ beside the repo; user installs lack it
REPO = Path(__file__).parents[1]
ROWS = yaml.safe_load(resources.files("blurbench.leaderboard").joinpath("published.yaml").read_text())
TABLES = {"000_716047f4d798cc40.txt": ("Carbajal et al. 2021", {"Table 1", "Table 2", "Table 3", "Table 4"}),
          "003_65d9d99c942f461f.txt": ("Kim, Nah, Lee TPAMI 2017", {"Table 1", "Table 2", "Table 3", "Table 4"})}


def _key(row: dict) -> tuple:
    # Sintel's GVD rows are in two tables (SSIM in Table 2, EPE in Table 4): the metric is part of the key
    return row["task"], row["dataset"], row["method"], tuple(sorted(row["metrics"]))


def _numbers(text: str, footnote: bool) -> set[float]:
    found = set()
    for token in re.findall(r"\d+\.\d+", text):
        found.add(float(token))
        if footnote:  # "28.031" printed with footnote mark 1 stands for 28.03
            found.add(float(token[:-1]))
    return found


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['reference'][-7:]}-{r['method']}-{r['dataset']}")
def test_published_row_is_on_its_seed_line(row):
    seed = SEEDS / row["seed"]
    if not seed.is_file():
        pytest.skip(f"{seed} absent (it ships beside the repository, not with the package)")
    lines = seed.read_text(encoding="utf-8").splitlines()
    window = " ".join(" ".join(lines[row["line"] - 1: row["line"] - 1 + row.get("span", 1)]).split())
    assert row["text"] in window, f"'{row['text']}' is not on {row['seed']}:{row['line']}"
    numbers = _numbers(row["text"], row.get("footnote", False))
    for name, value in row["metrics"].items():
        assert value in numbers, f"{row['method']}/{row['dataset']} {name}={value} is not in '{row['text']}'"
    # parentheses in the paper <=> marked as taken from another paper
    if row["text"].startswith("("):
        assert row.get("from_other_paper")


def test_every_seed_table_is_typed():
    """Carbajal et al. Tables 1-4 and the GVD paper's Tables 1-4, with the sizes the issue asks for."""
    by_table: dict[str, list[dict]] = {}
    for r in ROWS:
        author, tables = TABLES[r["seed"]]
        table = r["reference"].rsplit(", ", 1)[1]
        assert r["reference"].startswith(author) and table in tables
        by_table.setdefault(r["reference"], []).append(r)
    count = {k: len(v) for k, v in by_table.items()}
    assert count["Carbajal et al. 2021, Table 1"] == 38  # 11 methods x 4 datasets, 6 cells printed '-'
    assert count["Carbajal et al. 2021, Table 2"] == 8  # 4 methods, with and without #8-#11
    assert count["Carbajal et al. 2021, Table 3"] == 4
    assert count["Carbajal et al. 2021, Table 4"] == 5
    assert sum(1 for r in by_table["Carbajal et al. 2021, Table 1"] if r.get("from_other_paper")) == 9
    assert sum(1 for r in by_table["Carbajal et al. 2021, Table 4"] if r.get("from_other_paper")) == 2
    assert {r["dataset"] for r in by_table["Carbajal et al. 2021, Table 2"]} == {
        "kohler-no-homography", "kohler-no-homography-except-8-11"}
    for table, n in (("Table 1", 6), ("Table 2", 2), ("Table 3", 15), ("Table 4", 5)):
        assert count[f"Kim, Nah, Lee TPAMI 2017, {table}"] == n
    keys = [_key(r) for r in ROWS]
    assert len(keys) == len(set(keys)), "a method/dataset is typed twice"


def test_published_entries_name_their_table_and_mark_other_papers():
    entries = published_entries()
    assert len(entries) == len(ROWS)
    paren = [e for e in entries if e["method"] == "sun-et-al"]
    assert paren and all("value from another paper" in e["reference"] for e in paren)
    ours = next(e for e in entries if e["method"] == "carbajal2021-hsd" and e["dataset"] == "kohler")
    assert ours["reference"] == "Carbajal et al. 2021, Table 1" and ours["metrics"] == {"psnr": 28.23, "ssim": 0.81}


def _check_published_numbers(directory: Path) -> None:
    typed = {_key(r): r for r in ROWS}
    files = sorted(directory.glob("*.json"))
    assert files
    for path in files:
        for e in json.loads(path.read_text())["entries"]:
            if e["source"] != "published":
                continue
            row = typed.get(_key(e))
            assert row is not None, f"{path.name}: {e['method']}/{e['dataset']} is in no seed table"
            assert e["reference"].startswith(row["reference"]) and e["metrics"] == row["metrics"], path.name


def test_every_published_number_in_leaderboards_names_a_seed_table():
    """The committed leaderboards/ (rewritten by `blurbench leaderboard --regenerate`)."""
    _check_published_numbers(REPO / "leaderboards")


def test_published_leaderboard_names_tables_beside_each_number(tmp_path):
    from blurbench.leaderboard.table import sort_entries, write_leaderboard

    markdown = write_leaderboard(tmp_path, sort_entries(published_entries()), "Published", stem="published")
    _check_published_numbers(tmp_path)
    for line in markdown.splitlines():
        if "| published" in line:
            cited = r"\| published \((Carbajal et al\. 2021|Kim, Nah, Lee TPAMI 2017), Table [1-4]"
            assert re.search(cited, line), line
