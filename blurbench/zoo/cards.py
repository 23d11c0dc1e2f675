"""Model cards: write blurbench results into a card's ``model-index`` and read them back as leaderboard entries.

Results publish the Hub's standard way (``huggingface_hub.ModelCardData(eval_results=[EvalResult, ...])``), one
``EvalResult`` per (task, dataset, split, metric):

- ``task_type`` ``image-to-image`` (the Hub task id); ``task_name`` the blurbench table (``deblurring``,
  ``kernel-estimation``, ...);
- ``dataset_name`` = ``dataset_type`` = the blurbench dataset name; ``dataset_split`` the split;
  ``dataset_args`` ``{"protocol": ..., "samples": n}``;
- ``metric_type`` the blurbench metric key (``psnr``, ``ssim``, ...), ``metric_name`` its column title,
  ``metric_args`` ``{"convention": ...}`` where blurbench records one (PSNR/SSIM conventions).

:func:`entries_from_card` turns any such card (file, directory or Hub repo id) back into leaderboard entries with
``source: "model card"``, ready for :func:`blurbench.leaderboard.table.write_leaderboard`
(:func:`blurbench.leaderboard.publish.render_from_cards`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blurbench.errors import ConfigError, DataError
from blurbench.metrics.conventions import CONVENTIONS, METRIC_INFO
from blurbench.zoo.local import hub_cache_dir, hub_endpoint, hub_offline

__all__ = ["build_model_card", "entries_for_model", "entries_from_card"]

HUB_TASK_TYPE = "image-to-image"
_HF_LICENSES = {"bsd-3-clause", "bsd-2-clause", "mit", "apache-2.0", "cc-by-4.0", "cc-by-nc-4.0", "gpl-3.0", "bsd"}


def _license_id(text: str) -> str:
    first = (text or "").split(" ")[0].strip("(),;").lower()
    return first if first in _HF_LICENSES else "other"


def _eval_results(entries: list[dict[str, Any]]) -> list[Any]:
    from huggingface_hub import EvalResult  # deferred: huggingface_hub (cards are written and read on demand)

    out = []
    for e in entries:
        prov = e.get("provenance") or {}
        args = {"protocol": e.get("protocol") or "", "samples": e.get("n"), "source": "measured with blurbench",
                "weights_sha256": prov.get("weights_sha256"), "blurbench_commit": prov.get("commit"),
                "date": prov.get("date")}
        args = {k: v for k, v in args.items() if v is not None}
        for metric, value in sorted(e["metrics"].items()):
            if value is None:
                continue
            out.append(EvalResult(
                task_type=HUB_TASK_TYPE, task_name=e["task"],
                dataset_type=e["dataset"], dataset_name=e["dataset"], dataset_split=e.get("split") or None,
                dataset_args=args,
                metric_type=metric, metric_value=float(value), metric_name=METRIC_INFO.get(metric, (metric,))[0],
                metric_args={"convention": CONVENTIONS[metric]} if metric in CONVENTIONS else None,
            ))
    return out


def build_model_card(config: dict[str, Any], entries: list[dict[str, Any]], repo_id: str | None = None) -> Any:
    """A ``huggingface_hub.ModelCard`` for a directory in our format; ``entries`` (leaderboard entries of this
    model) go into ``model-index`` and into a results table in the text."""
    # deferred: huggingface_hub (cards are written and read on demand)
    from huggingface_hub import ModelCard, ModelCardData

    name = config["name"]
    data = ModelCardData(
        license=_license_id(config.get("license", "")), library_name="blurbench", model_name=name,
        tags=["blurbench", "motion-blur", config.get("task") or "image-restoration", config["arch"]],
        eval_results=_eval_results(entries) or None,
    )
    src = config.get("source", {})
    load_line = f'load("hf-hub:{repo_id}")' if repo_id else 'load_local("path/to/this/folder")'
    lines = [
        "---", data.to_yaml(), "---", "", f"# {name}", "",
        config.get("description") or f"`{config['arch']}` weights for blurbench.", "",
        "| | |", "|---|---|",
        f"| architecture | `{config['arch']}` {json.dumps(config.get('ctor_args', {}))} |",
        f"| task | {config.get('task', '')} |",
        f"| input convention | {config.get('input_convention', '')} |",
        f"| parameters | {config.get('num_params', '')} |",
        f"| licence | {config.get('license', '')} |",
        f"| paper | {config.get('paper', '')} |",
        f"| converted from | {src.get('location', src.get('file', ''))} (sha256 `{src.get('sha256', '')}`) |",
        f"| model.safetensors sha256 | `{config.get('weights_sha256', '')}` |",
        "", "## Usage", "", "```python", f"from blurbench.zoo import {load_line.split('(')[0]}",
        f"model = {load_line}  # sha256-checked, strict", "```", "",
    ]
    if entries:
        cols = sorted({m for e in entries for m in e["metrics"]})
        lines += ["## Results (measured with blurbench)", "",
                  "Measured by `blurbench evaluate` with these weights (`model.safetensors` sha256 "
                  f"`{config.get('weights_sha256', '')}`; provenance of each row in the `model-index` above).", "",
                  "| task | dataset | split | n | " + " | ".join(METRIC_INFO.get(c, (c,))[0] for c in cols) + " |",
                  "|---|---|---|---|" + "---|" * len(cols)]
        for e in entries:
            vals = [METRIC_INFO.get(c, ("", True, "{:.4g}"))[2].format(e["metrics"][c]) if c in e["metrics"] else "–"
                    for c in cols]
            lines.append(f"| {e['task']} | {e['dataset']} | {e.get('split', '')} | {e.get('n') or '–'} | "
                         + " | ".join(vals) + " |")
        protocols = sorted({f"{e['dataset']}: {e['protocol']}" for e in entries if e.get("protocol")})
        if protocols:
            lines += ["", "Protocols: " + "; ".join(protocols) + "."]
        lines.append("")
    return ModelCard("\n".join(lines))


def entries_for_model(leaderboard_json: str | Path, method: str) -> list[dict[str, Any]]:
    """The measured entries of ``method`` in a blurbench ``leaderboard.json``."""
    path = Path(leaderboard_json)
    if not path.is_file():
        raise DataError(f"{path}: no such leaderboard file",
                        "pass the leaderboard.json written by `blurbench evaluate`")
    try:
        entries = json.loads(path.read_text())["entries"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{path}: not a blurbench leaderboard.json ({err})", "pass DIR/leaderboard.json") from None
    mine = [e for e in entries if e.get("method") == method and e.get("source") == "measured"]
    if not mine:
        methods = sorted({e.get("method", "?") for e in entries if e.get("source") == "measured"})
        raise ConfigError(f"{path}: no measured results for method '{method}'",
                          f"pass --method, one of: {', '.join(methods) or 'none'}")
    return mine


def _load_card(source: str | Path) -> tuple[Any, str]:
    from huggingface_hub import ModelCard  # deferred: huggingface_hub (cards are written and read on demand)

    path = Path(source)
    if path.is_dir():
        path = path / "README.md"
    if path.is_file():
        return ModelCard.load(path), str(path)
    if Path(source).exists() or str(source).count("/") != 1:
        raise DataError(f"{source}: no model card here", "pass a README.md, a folder holding one, or a Hub repo id")
    # deferred: huggingface_hub (cards are written and read on demand)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        readme = hf_hub_download(str(source), "README.md", endpoint=hub_endpoint(), cache_dir=hub_cache_dir(),
                                 local_files_only=hub_offline())
    except (LocalEntryNotFoundError, RepositoryNotFoundError, EntryNotFoundError) as err:
        raise DataError(f"{source}: cannot read its README.md ({str(err).splitlines()[0]})",
                        "check the repo id and network access (or pass a local README.md)") from None
    return ModelCard.load(readme), f"{hub_endpoint()}/{source}"


def entries_from_card(source: str | Path) -> list[dict[str, Any]]:
    """Leaderboard entries (``source: "model card"``) from the ``model-index`` of a card: a README.md path, a
    folder holding one, or a Hub repo id ``ORG/REPO``."""
    card, where = _load_card(source)
    results = card.data.eval_results or []
    method = card.data.model_name or Path(str(source)).name
    groups: dict[tuple, dict[str, Any]] = {}
    for r in results:
        args = r.dataset_args or {}
        key = (r.task_name or r.task_type, r.dataset_name, r.dataset_split or "", args.get("protocol", ""))
        entry = groups.setdefault(key, {
            "task": key[0], "dataset": key[1], "split": key[2], "protocol": key[3], "method": method,
            "source": "model card", "n": args.get("samples"), "metrics": {}, "seconds": None, "reference": where,
            "provenance": {k: args[k] for k in ("weights_sha256", "blurbench_commit", "date") if args.get(k)},
        })
        entry["metrics"][r.metric_type] = float(r.metric_value)
    return list(groups.values())
