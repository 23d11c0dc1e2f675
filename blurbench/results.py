"""Per-sample results on disk: ``results.jsonl`` plus per-rank append-only partial files.

Each process appends the rows it computes to ``.partial/rank<R>.jsonl`` (flushed and fsynced per row), so an
interrupted run loses at most the sample in flight. Rank 0 merges partials into ``results.jsonl`` with an
atomic rewrite. Reading tolerates a torn last line and de-duplicates on (method, dataset, id), keeping the
first row, so a resumed run never produces duplicates.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from blurbench.io import atomic_write_json, atomic_write_text

Key = tuple[str, str, str]


def row_key(row: dict[str, Any]) -> Key:
    return (row["method"], row["dataset"], row["id"])


class ResultsStore:
    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.results_path = self.out / "results.jsonl"
        self.partial_dir = self.out / ".partial"
        self.provenance_path = self.out / "provenance.json"

    def _read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        rows = []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                    row_key(row)
                except (ValueError, KeyError, TypeError):
                    warnings.warn(f"{path}:{lineno}: skipping an incomplete row (interrupted write)", stacklevel=2)
                    continue
                rows.append(row)
        return rows

    def partial_files(self) -> list[Path]:
        return sorted(self.partial_dir.glob("rank*.jsonl")) if self.partial_dir.is_dir() else []

    def load(self) -> list[dict[str, Any]]:
        """All rows, merged results first, de-duplicated on (method, dataset, id)."""
        rows: list[dict[str, Any]] = []
        seen: set[Key] = set()
        sources = ([self.results_path] if self.results_path.is_file() else []) + self.partial_files()
        for path in sources:
            for row in self._read_jsonl(path):
                if row_key(row) not in seen:
                    seen.add(row_key(row))
                    rows.append(row)
        return rows

    def done(self) -> set[Key]:
        return {row_key(r) for r in self.load()}

    def append_partial(self, rank: int, rows: list[dict[str, Any]]) -> None:
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        with open(self.partial_dir / f"rank{rank}.jsonl", "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, sort_keys=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Replace ``results.jsonl`` with ``rows`` (atomic)."""
        atomic_write_text(self.results_path, "".join(json.dumps(r) + "\n" for r in rows))

    def merge(self) -> list[dict[str, Any]]:
        """Fold partial files into ``results.jsonl`` (atomic rewrite), then remove them. Rank 0 only."""
        rows = self.load()
        self.write(rows)
        for path in self.partial_files():
            path.unlink(missing_ok=True)
        if self.partial_dir.is_dir() and not any(self.partial_dir.iterdir()):
            self.partial_dir.rmdir()  # a clean finish leaves only results.jsonl (a rank's next row recreates it)
        return rows

    def load_provenance(self) -> dict[str, Any]:
        if not self.provenance_path.is_file():
            return {}
        try:
            return json.loads(self.provenance_path.read_text())
        except ValueError:
            warnings.warn(f"{self.provenance_path}: unreadable, provenance starts afresh", stacklevel=2)
            return {}

    def record_provenance(self, method: str, dataset: str, info: dict[str, Any]) -> None:
        prov = self.load_provenance()
        prov[f"{method}/{dataset}"] = info
        atomic_write_json(self.provenance_path, prov)
