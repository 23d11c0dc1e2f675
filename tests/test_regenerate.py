"""`blurbench leaderboard --regenerate`, the checkout's developer command, in pieces (the full run takes minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurbench import cli, regenerate

REPO = Path(__file__).resolve().parents[1]


def test_repo_root_is_the_checkout_with_its_markers() -> None:
    assert regenerate.REPO_ROOT == REPO
    text = (REPO / "README.md").read_text()
    assert text.count(regenerate.README_START) == 1 and text.count(regenerate.README_END) == 1


def test_update_readme_replaces_only_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    start, end = regenerate.README_START, regenerate.README_END
    readme.write_text(f"# Project\n\nintro\n{start}\nold table\n{end}\n\n## After\n")
    regenerate.update_readme("# Title\n\n## Deblurring\n\n| a |\n", readme)
    assert readme.read_text() == f"# Project\n\nintro\n{start}\n### Deblurring\n\n| a |\n{end}\n\n## After\n"
    regenerate.update_readme("x", tmp_path / "missing.md")  # no README: nothing written, no error
    assert not (tmp_path / "missing.md").exists()


@pytest.mark.parametrize("argv, expected", [
    (["leaderboard", "--regenerate"], ("leaderboards", None)),
    (["leaderboard", "--regenerate", "--out", "elsewhere", "--limit", "2"], ("elsewhere", 2)),
])
def test_the_command_calls_regenerate(argv: list[str], expected: tuple, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    calls = []
    monkeypatch.setattr(regenerate, "regenerate", lambda out, limit=None: calls.append((out, limit)) or "# table")
    assert cli.main(argv) == 0
    assert calls == [expected]
    assert capsys.readouterr().out == "# table\n"


def test_the_readme_is_written_only_for_the_repository_leaderboards(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The README step runs when out_dir is REPO_ROOT/leaderboards, never for another folder."""
    written = []
    monkeypatch.setattr(regenerate, "update_readme", lambda markdown: written.append(markdown))
    monkeypatch.setattr(regenerate, "methods", lambda: [])
    monkeypatch.setattr(regenerate, "evaluate", lambda *a, **k: [])
    monkeypatch.setattr(regenerate, "write_report", lambda *a, **k: None)
    monkeypatch.setattr(regenerate, "REPO_ROOT", tmp_path)
    regenerate.regenerate(tmp_path / "other", run_dir=tmp_path / "run")
    assert written == []
    markdown = regenerate.regenerate(tmp_path / "leaderboards", run_dir=tmp_path / "run")
    assert written == [markdown]
    assert {p.name for p in (tmp_path / "leaderboards").glob("*.md")} == {"builtin.md", "published.md"}
