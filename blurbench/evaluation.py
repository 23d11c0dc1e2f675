"""``blurbench evaluate``: run registered methods over a suite's datasets with ``Trainer.test``.

Every process (one per device, on every node) runs :func:`evaluate` with the same arguments; Lightning's
DDP launcher starts the other local processes at the first ``trainer.test``. Rows are written per sample
by :class:`ResultsWriter` into per-rank partial files, rank 0 merges them after each (method, dataset)
between two barriers, and the leaderboard is computed from the merged per-sample rows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from blurbench.datamodules.catalog import check_hint
from blurbench.datamodules.real import REAL_KIND
from blurbench.datamodules.registry import DatasetSpec, build_datamodule, datasets, get_dataset
from blurbench.errors import ConfigError, DataError
from blurbench.failures import check_writable_dir
from blurbench.leaderboard.cost import load_costs
from blurbench.leaderboard.provenance import device_description, provenance
from blurbench.leaderboard.report import run_callbacks, write_report
from blurbench.leaderboard.table import summarize, write_leaderboard
from blurbench.results import ResultsStore
from blurbench.tasks.model_methods import method_from_model
from blurbench.tasks.registry import MethodSpec, get_method, methods
from blurbench.tasks.tiling import check_field_size, field_limit


class ResultsWriter(Callback):
    """Stamps each test row with method, dataset and task and appends it to this rank's partial file."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        dataset = trainer.datamodule.name
        rows = [{"method": pl_module.method_name, "dataset": dataset, "task": pl_module.task, **row}
                for row in outputs]
        self.store.append_partial(trainer.global_rank, rows)


def _env_rank() -> int:
    """Global rank known from the launcher's environment before a Trainer exists (0 when unlaunched)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


@dataclass
class EvaluationPlan:
    suite: str
    methods: list[MethodSpec]
    datasets: list[DatasetSpec]

    def pairs(self) -> list[tuple[MethodSpec, DatasetSpec]]:
        return [(m, d) for m in self.methods for d in self.datasets if _runs_on(m, d)]


def _runs_on(method: MethodSpec, dataset: DatasetSpec) -> bool:
    """A method runs on a dataset of its data kind that has what it needs: a ground-truth field for the oracles
    (their input) and for kernel estimation (its metrics compare fields). On real blur, every image method that
    needs no ground truth runs (outputs only)."""
    if dataset.kind == REAL_KIND:
        return method.data_kind in ("image", "detection") and not method.uses_gt_field
    needs_field = method.uses_gt_field or method.task == "kernel-estimation"
    return method.data_kind == dataset.kind and (dataset.gt_field or not needs_field)


def plan(suite: str, method_names: Sequence[str | MethodSpec] | None, dataset_names: Sequence[str] | None
         ) -> EvaluationPlan:
    """Resolve names and check every pair is runnable.

    ``None`` or ``["default"]`` is the default method set (every method but the slow ones), ``["all"]`` is
    every registered method; both keep only methods whose weights are on this machine. Other entries are
    registered names, model sources (``blurbench.tasks.registry.MODEL_FORMS``) or :class:`MethodSpec` objects.
    """
    all_sets = datasets(suite)
    chosen_sets = all_sets if not dataset_names else [get_dataset(suite, n) for n in dataset_names]
    kinds = {d.kind for d in chosen_sets}
    if not method_names or list(method_names) in (["default"], ["all"]):
        everything = list(method_names or []) == ["all"]
        chosen = [m for m in methods() if any(_runs_on(m, d) for d in chosen_sets) and (everything or m.in_default)
                  and not m.missing_weights()]
    else:
        chosen = [n if isinstance(n, MethodSpec) else get_method(n) for n in method_names]
        for m in chosen:
            if REAL_KIND in kinds and not any(_runs_on(m, d) for d in chosen_sets) and m.uses_gt_field:
                raise ConfigError(f"method '{m.name}' needs a ground truth, which real blurry photographs do not have",
                                  "run it on a dataset that ships one (the built-in suite) or pick another method")
            if m.data_kind not in kinds and not any(_runs_on(m, d) for d in chosen_sets):
                raise ConfigError(f"method '{m.name}' evaluates {m.data_kind} data but the chosen datasets hold "
                                  f"{'/'.join(sorted(kinds))}", "pick datasets of its kind or another method")
            if not any(_runs_on(m, d) for d in chosen_sets):
                raise ConfigError(f"method '{m.name}' needs a ground-truth blur field, which no chosen dataset "
                                  f"({', '.join(d.name for d in chosen_sets)}) has",
                                  "run it on a dataset that ships one (the built-in suite) or pick another method")
            m.check_runnable()
        names = [m.name for m in chosen]
        if len(set(names)) != len(names):
            raise ConfigError(f"a method is named twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}",
                              "give each method once (or a distinct name)")
    return EvaluationPlan(suite, chosen, chosen_sets)


class _NamedProgressBar(TQDMProgressBar):
    """Lightning's bar, named after the (method, dataset) being evaluated instead of "Testing"."""

    label = "Testing"

    @property
    def test_description(self) -> str:
        return self.label


LOGGERS = ("tensorboard", "csv")


def make_trainer(out: Path, devices: int | str = 1, accelerator: str = "auto", num_nodes: int = 1,
                 store: ResultsStore | None = None, progress: bool = True, logger: str | None = None) -> L.Trainer:
    """The evaluation Trainer. ``logger``: ``"tensorboard"`` or ``"csv"`` adds Lightning's logger under ``out``
    (per-method means); by default nothing but our own files is written. A progress bar is drawn only on a terminal:
    in a log file its carriage returns would be one endless line."""
    world = (devices if isinstance(devices, int) else 1) * num_nodes
    strategy: Any = "ddp" if world > 1 else "auto"
    if logger not in (None, *LOGGERS):
        raise ConfigError(f"unknown logger '{logger}'", f"choose one of: {', '.join(LOGGERS)}")
    loggers = {"csv": lambda: CSVLogger(out, name="logs"), "tensorboard": lambda: TensorBoardLogger(out, name="tb")}
    bar = progress and sys.stderr.isatty()
    return L.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
        use_distributed_sampler=False,  # our datamodules shard with UnrepeatedDistributedSampler
        logger=[loggers[logger]()] if logger else False,
        callbacks=[ResultsWriter(store or ResultsStore(out)), *([_NamedProgressBar()] if bar else [])],
        enable_progress_bar=bar, enable_model_summary=False, inference_mode=True,
    )


def _build(spec: DatasetSpec, data_root: str | Path | None, split_kw: dict[str, str], **kwargs: Any) -> Any:
    try:
        return build_datamodule(spec, data_root, **split_kw, **kwargs)
    except TypeError as err:
        if split_kw and "split" in str(err):  # a datamodule with a single, fixed split
            raise ConfigError(f"dataset {spec.suite}/{spec.name} has no '{split_kw['split']}' split",
                              "drop --split (it scores that dataset's only split)") from None
        raise


def default_out(suite: str, split: str | None = None) -> Path:
    """``runs/<suite>``, or ``runs/<suite>-<split>`` for another split (its rows never mix with test rows)."""
    return Path("runs") / (suite if split in (None, "test") else f"{suite}-{split}")


def evaluate(suite: str = "builtin", method_names: Sequence[str | MethodSpec] | None = None,
             dataset_names: Sequence[str] | None = None, out: str | Path | None = None, devices: int | str = 1,
             accelerator: str = "auto", num_nodes: int = 1, limit: int | None = None,
             data_root: str | Path | None = None, progress: bool = True, report_images: bool = True,
             logger: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """Evaluate, resume-safe; returns the leaderboard entries (rank 0) or [] (other ranks).

    ``split``: the datasets' split to score (None: each dataset's default, ``test``); ``"val"`` is where every
    choice made on data is made. Also writes ``leaderboard.html`` (:mod:`blurbench.leaderboard.report`);
    ``report_images=False`` skips the pictures the run would keep for it."""
    split_kw = {} if split is None else {"split": split}
    the_plan = plan(suite, method_names, dataset_names)
    out = check_writable_dir(out or default_out(suite, split), "--out")  # a probe write, before any work
    store = ResultsStore(out)
    done = store.done()  # read once by every rank before anyone writes: all ranks agree on what is left

    modules = {}
    for spec in the_plan.datasets:
        dm = _build(spec, data_root, split_kw, limit=limit)
        if _env_rank() == 0:
            dm.prepare_data()
        problems = dm.check()
        if problems:
            subset = " (a consistent subset is accepted with --allow-subset or BLURBENCH_ALLOW_SUBSET=1)" if any(
                "official count" in p for p in problems) else ""

            hint = check_hint(spec.suite if spec.suite == "builtin" else spec.name, data_root)
            raise DataError(problems[0], f"{hint}{subset}")
        modules[spec.name] = dm
    order = {spec.name: dm.ids()[:limit] if limit else dm.ids() for spec, dm in
             ((s, modules[s.name]) for s in the_plan.datasets)}
    for method, spec in the_plan.pairs():
        if spec.kind == REAL_KIND and method.task == "kernel-estimation":  # full-size maps: no tiles (tiling doc)
            check_field_size((r.blurry for r in modules[spec.name].build_test_dataset().records
                              if r.id in set(order[spec.name])), method.name, field_limit(method))

    trainer = make_trainer(out, devices, accelerator, num_nodes, store, progress, logger)
    trainer.callbacks.extend(run_callbacks(out, images=report_images))  # cost counts, report pictures
    if trainer.num_devices > 1 and trainer.accelerator.__class__.__name__ == "CPUAccelerator":
        # Several processes on one CPU: split the cores instead of oversubscribing them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // trainer.num_devices))
    device = device_description(trainer.accelerator.__class__.__name__.replace("Accelerator", "").lower(),
                                trainer.num_devices, trainer.num_nodes)
    if trainer.global_rank == 0:
        store.merge()  # fold in partial rows of an interrupted run
    for method, spec in the_plan.pairs():
        todo = [i for i in order[spec.name] if (method.name, spec.name, i) not in done]
        if not todo:
            continue
        dm = _build(spec, data_root, split_kw, limit=limit, exclude=[i for i in order[spec.name] if i not in todo])
        model = method.build()
        for bar in (c for c in trainer.callbacks if isinstance(c, _NamedProgressBar)):
            bar.label = f"{method.name} on {spec.name}"
        trainer.test(model, datamodule=dm, verbose=False)
        trainer.strategy.barrier()
        if trainer.global_rank == 0:
            rows = store.merge()
            store.record_provenance(method.name, spec.name, provenance(
                config_hash=method.config_hash(), weights_sha256=model.weights_sha256(), device=device,
                extra={"suite": suite, "limit": limit}))
            _log_means(trainer, method.name, spec.name, rows)
        trainer.strategy.barrier()
    if trainer.global_rank != 0:
        return []
    rows = store.merge()
    info = {s.name: {"protocol": modules[s.name].protocol, "split": modules[s.name].split} for s in the_plan.datasets}
    entries = summarize(rows, store.load_provenance(), info, costs=load_costs(out))
    write_leaderboard(out, entries, title=f"blurbench — {suite} suite")
    write_report(out, entries, rows, title=f"blurbench — {suite} suite")
    return entries


def _log_means(trainer: L.Trainer, method: str, dataset: str, rows: list[dict[str, Any]]) -> None:
    mine = [r for r in rows if r["method"] == method and r["dataset"] == dataset]
    if not mine:
        return
    names = {k for r in mine for k in r["metrics"]}
    means = {f"{method}/{dataset}/{k}": sum(vals) / len(vals)
             for k in names for vals in [[r["metrics"][k] for r in mine if k in r["metrics"]]]}
    for logger in trainer.loggers:
        logger.log_metrics(means, step=0)
        logger.save()


def evaluate_model(model: Any, suite: str = "builtin", datasets: Sequence[str] | None = None, *,
                   task: str | None = None, name: str | None = None, io_range: Sequence[float] = (0.0, 1.0),
                   baselines: Sequence[str] = (), out: str | Path | None = None, **kwargs: Any
                   ) -> list[dict[str, Any]]:
    """Evaluate a model in a notebook: ``blurbench.evaluate(net, task="deblurring", datasets=["motion"])``.

    ``model``: an ``nn.Module`` or callable (``task`` = ``"deblurring"``: NCHW images in ``io_range``, default
    [0, 1], in and out; ``"kernel-estimation"``: [0, 1] in, ``(kernels, mixing)`` out), an
    :class:`~blurbench.tasks.base.EvaluationTask`, or any ``--methods`` string. ``baselines`` adds registered
    methods (e.g. ``["identity"]``). Writes the same files as ``blurbench evaluate`` (``out``, default
    ``runs/<suite>``) and returns the leaderboard entries. ``kwargs`` go to :func:`evaluate` (devices, limit, ...).
    """
    spec = method_from_model(model, task=task, name=name, io_range=io_range)
    return evaluate(suite, [spec, *baselines], datasets, out, **kwargs)
