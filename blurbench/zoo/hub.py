"""Fetch, verify, convert, load and publish zoo weights.

Resolution order for a registered model's file (:func:`pull`):

1. ``local_file=`` (CLI ``--local-file``): a copy you downloaded yourself; verified, then copied to 2.
2. ``<blurbench cache>/zoo/<name>/<filename>``: manual copies and non-Hub downloads live here.
3. Hub sources: ``huggingface_hub.hf_hub_download`` (its cache, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, tokens),
   pinned to the registry's revision.
4. URL sources: :func:`blurbench.downloads.fetch` (resumable HTTP) into 2.

Every file is checked (size, then sha256) before it is read. A file that fails is refused, and removed when it
came from a cache, so the next pull downloads it again. A source without a known sha256 is refused unless the
caller passes ``sha256=`` (checked) or ``allow_unverified=True`` (the computed digest is logged). Checkpoints are
read with ``torch.load(weights_only=True)`` (or safetensors): a file that needs arbitrary Python objects is
refused, never unpickled. Loading is strict: every missing, unexpected or mis-shaped key is reported.

Our format (:func:`save_local` / :func:`load_local`, also what ``blurbench zoo push`` uploads): a directory with
``model.safetensors``, ``config.json`` (``format``, ``name``, ``arch``, ``ctor_args``, ``task``,
``input_convention``, ``license``, ``paper``, ``source`` {kind, location, sha256 of the original file},
``weights_sha256`` of ``model.safetensors``) and a ``README.md`` model card. ``load("hf-hub:ORG/REPO")`` loads
such a directory straight from the Hub.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import Tensor, nn

from blurbench.downloads import fetch
from blurbench.errors import ConfigError, DataError
from blurbench.hub import (
    _DEFAULT_ENDPOINT,
    HUB_PREFIX,  # noqa: F401 (re-exported: `from blurbench.zoo.hub import HUB_PREFIX`)
    download,
    hub_cache_dir,
    hub_endpoint,
    hub_offline,
    parse_hub_source,
    upload,
)
from blurbench.io import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file
from blurbench.zoo.cards import build_model_card, entries_for_model
from blurbench.zoo.converters import (
    convert_deblurgan_v1,
    convert_deblurganv2,
    convert_vgg19_features,
    strip_prefix,
    unwrap_state_dict,
)
from blurbench.zoo.local import weights_on_disk, zoo_cache_dir  # noqa: F401  (re-exported)
from blurbench.zoo.registry import (
    _REGISTRY,
    ARCH_IO_RANGE,
    ModelSpec,
    WeightSource,
    build_arch,
    get_model_spec,
    shipped_weights_dir,
)

__all__ = [
    "CONFIG_FORMAT",
    "convert_checkpoint",
    "load_registered",
    "load_local",
    "load_state_dict_strict",
    "pull",
    "push",
    "read_checkpoint",
    "save_local",
    "verify_file",
    "weights_on_disk",
    "zoo_cache_dir",
]

log = logging.getLogger(__name__)

#: ``format`` of our ``config.json``
CONFIG_FORMAT = "blurbench-zoo/1"


# ------------------------------------------------------------------------------------------ verification
def _remove_cached(path: Path) -> None:
    """Remove a cached file; for a Hub snapshot pointer also the blob it links to."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob != path:
        blob.unlink(missing_ok=True)


def verify_file(path: str | Path, sha256: str | None, size: int | None = None, what: str = "",
                remove_on_failure: bool = False) -> str:
    """Check ``path``'s size (if known) then sha256; returns the digest. On mismatch raise :class:`DataError`
    (after removing the file, and its Hub blob, if ``remove_on_failure``)."""
    path = Path(path)
    what = what or path.name
    actual_size = path.stat().st_size
    problem = None
    if size is not None and actual_size != size:
        problem = f"size {actual_size:,} bytes, expected {size:,}"
        digest = ""
    else:
        digest = sha256_file(path)
        if sha256 is not None and digest != sha256.lower():
            problem = f"sha256 {digest}, expected {sha256.lower()}"
    if problem is None:
        return digest
    removed = ""
    if remove_on_failure:
        _remove_cached(path)
        removed = " The file was removed from the cache."
    raise DataError(f"{what}: checksum mismatch at {path}: {problem}.{removed}",
                    "the download is corrupt or the remote file changed: pull again; if you trust a different file, "
                    "pass its digest with --sha256 / sha256=")


def _offline_message(spec: ModelSpec, w: WeightSource, manual: Path, reason: str) -> DataError:
    url = w.download_url(_DEFAULT_ENDPOINT if w.kind == "hub" else "")
    size = f"{w.size:,} bytes, " if w.size else ""
    sha = f"sha256 {w.sha256}" if w.sha256 else "sha256 unknown"
    where = f"Hub cache {hub_cache_dir()} (repo {w.repo_id}, file {w.filename})" if w.kind == "hub" else str(manual)
    return DataError(f"{spec.name}: {w.filename} is not in the {where} and {reason}",
                     f"download {url} ({size}{sha}) and run `blurbench zoo pull {spec.name} --local-file PATH` "
                     f"(it is copied to {manual}), or pull once with network access")


def _hub_download(spec: ModelSpec, w: WeightSource, revision: str | None, manual: Path) -> Path:
    # deferred: huggingface_hub (a shipped or local model needs no Hub client)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    try:
        return Path(hf_hub_download(w.repo_id, w.filename, revision=revision or w.revision, endpoint=hub_endpoint(),
                                    cache_dir=hub_cache_dir(), local_files_only=offline))
    except LocalEntryNotFoundError:
        reason = "HF_HUB_OFFLINE is set" if offline else f"the Hub ({hub_endpoint()}) is unreachable"
        raise _offline_message(spec, w, manual, reason) from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        first = str(err).splitlines()[0]
        raise DataError(f"{spec.name}: {w.repo_id}/{w.filename}@{revision or w.revision or 'main'}: {first}",
                        "check the repo id, file and revision (private repos need `hf auth login` or HF_TOKEN)"
                        ) from None


def pull(name: str, *, sha256: str | None = None, allow_unverified: bool = False, local_file: str | Path | None = None,
         revision: str | None = None) -> tuple[Path, str]:
    """Fetch and verify the weight file of zoo model ``name``; returns ``(path, sha256)``. See the module doc."""
    spec = get_model_spec(name)
    w = spec.weights
    if w is None:
        raise ConfigError(f"{name}: architecture only, no weights", "use load(name, pretrained=False)")
    manual = zoo_cache_dir() / spec.name / (w.filename or "weights")
    if w.kind == "none" and local_file is None and not manual.is_file():
        raise DataError(f"{name}: no download available ({w.note or 'no source'})",
                        "if you have the file, pass --local-file PATH (with --sha256 or --allow-unverified)")
    recorded = _recorded_digest(manual) if w.sha256 is None and local_file is None else None
    expected = (sha256 or w.sha256 or recorded or "").lower() or None
    if revision is not None and revision != w.revision and sha256 is None and not allow_unverified:
        raise ConfigError(f"{name}: the registry's sha256 is for revision {w.revision}, not {revision}",
                          "pass --sha256 for that revision or --allow-unverified")
    if revision is not None and revision != w.revision and sha256 is None:
        expected = None
    if expected is None and not allow_unverified:
        raise ConfigError(f"{name}: no known sha256 for {w.filename} ({w.location()}); refusing to load an "
                          "unverified file", "check the file yourself and pass its digest with --sha256 HEX "
                          "(load(..., sha256=HEX)), or accept it unverified with --allow-unverified "
                          "(allow_unverified=True)")
    # a digest from the user (given now, or recorded at a verified pull) may be of another file than the registry's
    size = w.size if (sha256 is None and recorded is None) or expected == w.sha256 else None

    def checked(path: Path, remove: bool) -> tuple[Path, str]:
        digest = verify_file(path, expected, size, f"{name} ({w.filename})", remove_on_failure=remove)
        if expected is None:
            log.warning("%s: loading UNVERIFIED file %s (sha256 %s)", name, path, digest)
        return path, digest

    if local_file is not None:
        src = Path(local_file)
        if not src.is_file():
            raise DataError(f"{src}: no such file", "pass the path of the downloaded weights to --local-file")
        _, digest = checked(src, remove=False)
        if src.resolve() != manual.resolve():
            manual.parent.mkdir(parents=True, exist_ok=True)
            tmp = manual.with_name(manual.name + ".copy")
            shutil.copyfile(src, tmp)
            os.replace(tmp, manual)
        if w.sha256 is None and sha256 is not None:
            # the user vouched for this file: later loads by name verify against the same digest
            atomic_write_json(_digest_record(manual), {"sha256": digest, "size": manual.stat().st_size,
                                                       "from": str(src)})
        return manual, digest
    if w.kind == "package":
        path = shipped_weights_dir() / (w.filename or "") / "model.safetensors"
        if not path.is_file():
            raise DataError(f"{name}: {path} is not shipped in this installation",
                            "reinstall blurbench (the package data holds the shipped weights)")
        return checked(path, remove=False)
    if manual.is_file():
        return checked(manual, remove=True)
    if w.kind == "hub":
        return checked(_hub_download(spec, w, revision, manual), remove=True)
    if w.kind == "url":
        if hub_offline():
            raise _offline_message(spec, w, manual, "HF_HUB_OFFLINE is set")

        fetch(w.url or "", manual, expected_size=size, retries=5,
              manual=f"or download it by hand and run `blurbench zoo pull {name} --local-file PATH`")
        return checked(manual, remove=True)
    raise DataError(f"{name}: no download available ({w.note or 'no source'})",
                    "if you have the file, pass --local-file PATH (with --sha256 or --allow-unverified)")


def _digest_record(manual: Path) -> Path:
    return manual.with_name(manual.name + ".sha256.json")


def _recorded_digest(manual: Path) -> str | None:
    """The digest a verified ``pull --local-file F --sha256 HEX`` recorded beside the cached copy."""
    record = _digest_record(manual)
    if not (record.is_file() and manual.is_file()):
        return None
    try:
        return str(json.loads(record.read_text())["sha256"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


# ----------------------------------------------------------------------------------------- reading files
def read_checkpoint(path: str | Path) -> Any:
    """Read a ``.safetensors`` file or a torch pickle with ``weights_only=True`` (never executes pickled code)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise DataError(f"{path}: not a readable safetensors file ({err})", "re-download or re-export it") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        with open(path, "rb") as f:
            head = f.read(2)
        # torch.save writes a zip (``PK``) or, in the legacy format, a pickle of protocol >= 2 (``\x80``);
        # anything else is not a checkpoint at all (an HTML error page, a text file), not a pickle to refuse
        if head[:2] != b"PK" and head[:1] != b"\x80":
            raise DataError(f"{path}: not a PyTorch checkpoint or safetensors file (it starts with {head!r})",
                            "check the file (an error page saved by a failed download?) or pass the right "
                            "--checkpoint") from None
        detail = str(err).strip().splitlines()
        hint = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0])
        raise DataError(f"{path}: refusing to unpickle: the file needs arbitrary Python objects ({hint[:200]})",
                        "blurbench never executes pickled code; in an environment you trust, re-save the weights "
                        "as a plain state dict (torch.save(model.state_dict(), F)) or safetensors, then convert "
                        "that file") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise DataError(f"{path}: not a readable PyTorch checkpoint ({str(err).splitlines()[0]})",
                        "check the file (truncated download?) or pass the right --checkpoint") from None


def _is_lightning_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "state_dict" in obj and (
        "pytorch-lightning_version" in obj or "global_step" in obj or "epoch" in obj)


def _match_prefix(sd: dict[str, Tensor], model_keys: set[str], prefix: str | None = None) -> dict[str, Tensor]:
    """Strip the module prefix (``net.``, ``generator.``, ``model.net.`` ...) that makes ``sd`` fit the model.

    With ``prefix`` given, keep only the keys under it. Otherwise keep ``sd`` if it already fits, else take the
    candidate prefix whose stripped keys cover the most model keys (entries outside it, e.g. a critic or a loss
    network, are dropped and logged).
    """
    def strip(p: str) -> dict[str, Tensor]:
        return {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}

    if prefix is not None:
        chosen = strip(prefix)
    elif set(sd) == model_keys:
        return sd
    else:
        candidates = {""}
        for k in sd:
            parts = k.split(".")
            candidates.update(".".join(parts[:i]) + "." for i in range(1, min(len(parts), 4)))
        def score(p: str) -> tuple[int, int]:
            keys = set(strip(p)) if p else set(sd)
            return (len(keys & model_keys), -len(keys ^ model_keys))
        best = max(sorted(candidates), key=score)
        chosen = strip(best) if best else sd
        prefix = best
    dropped = [k for k in sd if not (prefix and k.startswith(prefix))] if prefix else []
    if dropped:
        log.info("kept %d entries under prefix %r; dropped %d others: %s", len(chosen), prefix, len(dropped), dropped)
    return chosen


def convert_checkpoint(obj: Any, converter: str, model_keys: set[str], prefix: str | None = None
                       ) -> dict[str, Tensor]:
    """File content → state dict for the target model (official converters, or prefix matching for plain and
    Lightning checkpoints). Lightning checkpoints always take the generic path."""
    try:
        if not _is_lightning_checkpoint(obj):
            if converter == "deblurgan_v1":
                return convert_deblurgan_v1(obj)
            if converter.startswith("deblurganv2_"):
                return convert_deblurganv2(obj, converter[len("deblurganv2_"):])
            if converter == "vgg19_features":
                return convert_vgg19_features(obj)
        sd = unwrap_state_dict(obj)
    except (TypeError, KeyError, ValueError) as err:
        raise DataError(f"checkpoint does not have the layout of converter '{converter}': {err}",
                        "pass the right model name / --arch, or a plain state dict") from None
    return _match_prefix(sd, model_keys, prefix)


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, Tensor], what: str) -> None:
    """``model.load_state_dict(strict=True)`` after listing every missing, unexpected or mis-shaped key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f"{k} {tuple(state_dict[k].shape)}!={tuple(v.shape)}" for k, v in own.items()
                    if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape))
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing {missing}" if missing else "",
                 f"{len(unexpected)} unexpected {unexpected}" if unexpected else "",
                 f"{len(shapes)} shape mismatches {shapes}" if shapes else ""]
        raise DataError(f"{what}: weights do not fit {type(model).__name__}: " + "; ".join(p for p in parts if p),
                        "the checkpoint is for another architecture or constructor arguments: pick the right model "
                        "or pass --arch/--arg (or --prefix for a wrapped checkpoint)")
    model.load_state_dict(state_dict, strict=True)


# ---------------------------------------------------------------------------------------------- loading
def load_registered(name: str, pretrained: bool = True, *, sha256: str | None = None,
                    allow_unverified: bool = False, local_file: str | Path | None = None, revision: str | None = None,
                    **overrides: Any) -> nn.Module:
    """Build registered zoo model ``name`` (``overrides`` update its constructor arguments) and load its verified
    weights. Use :func:`blurbench.zoo.load`, which also takes every other form of model source.

    The returned module is in eval mode and carries ``weights_sha256`` (the verified file digest, for provenance).
    """
    spec = get_model_spec(name)
    model = build_arch(spec.arch, {**spec.ctor_args, **overrides})
    if not pretrained:
        return model
    path, digest = pull(name, sha256=sha256, allow_unverified=allow_unverified, local_file=local_file,
                        revision=revision)
    w = spec.weights
    sd = convert_checkpoint(read_checkpoint(path), w.converter if w else "state_dict", set(model.state_dict()))
    load_state_dict_strict(model, sd, f"{name} ({path})")
    model.weights_sha256 = digest
    return model.eval()


def detect_converter(obj: Any, arch: str) -> str:
    """The converter for a bare weights file meant for ``arch``: official DeblurGAN-v2 files are recognised by
    their ``fpn.`` keys, DeblurGAN v1 and VGG19 files by the architecture's family; anything else is a plain state
    dict."""
    if _is_lightning_checkpoint(obj):
        return "state_dict"
    try:
        keys = list(strip_prefix(unwrap_state_dict(obj)))
    except (TypeError, AttributeError):
        return "state_dict"
    if any(k.startswith("fpn.inception") for k in keys):
        return "deblurganv2_fpn_inception"
    if any(k.startswith(("fpn.features", "fpn.enc")) for k in keys):
        return "deblurganv2_fpn_mobilenet"
    family = {s.arch: s.weights.converter for s in _registered_specs() if s.weights is not None}
    if arch in ("DeblurGANGenerator", "deblurgan_v1") or family.get(arch) == "deblurgan_v1":
        return "deblurgan_v1"
    if family.get(arch) == "vgg19_features":
        return "vgg19_features"
    return "state_dict"


def _registered_specs() -> list[ModelSpec]:
    return list(_REGISTRY.values())


def read_config(directory: Path) -> dict[str, Any]:
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise DataError(f"{directory}: no config.json", "pass a directory written by `blurbench zoo convert`")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("format") != CONFIG_FORMAT or "arch" not in cfg:
        raise DataError(f"{cfg_path}: not a {CONFIG_FORMAT} config", "re-create it with `blurbench zoo convert`")
    return cfg


def _load_our_format(cfg: dict[str, Any], weights: Path, what: str, remove_on_failure: bool,
                     overrides: Mapping[str, Any]) -> nn.Module:
    digest = verify_file(weights, cfg.get("weights_sha256"), None, what, remove_on_failure=remove_on_failure)
    args = {**cfg.get("ctor_args", {}), **overrides}
    model = build_arch(cfg["arch"], args)
    load_state_dict_strict(model, read_checkpoint(weights), what)
    model.weights_sha256 = digest
    model.zoo_config = {k: cfg[k] for k in ("name", "arch", "task", "input_convention", "io_range") if k in cfg}
    model.zoo_config["ctor_args"] = args
    return model.eval()


def load_local(directory: str | Path, **overrides: Any) -> nn.Module:
    """Load a directory in our format (``config.json`` + ``model.safetensors``, sha256-checked, strict)."""
    directory = Path(directory)
    cfg = read_config(directory)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise DataError(f"{directory}: no model.safetensors", "re-create it with `blurbench zoo convert`")
    return _load_our_format(cfg, weights, str(weights), False, overrides)


def _hub_repo_file(repo: str, filename: str, revision: str | None = None) -> Path:
    """One file of a Hub repo ``ORG/REPO[@REV]`` through the Hub cache (works offline when warm)."""
    repo_id, rev = parse_hub_source(repo)
    path = download(repo_id, filename, revision=revision or rev)
    assert path is not None  # not optional: a missing file raises
    return path


def hub_repo_config(repo: str, revision: str | None = None) -> dict[str, Any]:
    """``config.json`` of a Hub repo in our format (the weights are not downloaded)."""
    return read_config(_hub_repo_file(repo, "config.json", revision).parent)


def load_hub_repo(repo: str, revision: str | None = None, **overrides: Any) -> nn.Module:
    """Load ``ORG/REPO[@REV]`` in our format from the Hub (through its cache; works offline when warm)."""
    cfg = hub_repo_config(repo, revision)
    weights = _hub_repo_file(repo, "model.safetensors", revision)
    return _load_our_format(cfg, weights, f"{repo.partition('@')[0]}/model.safetensors", True, overrides)


# ---------------------------------------------------------------------------------------------- writing
def save_local(model: nn.Module, out_dir: str | Path, config: Mapping[str, Any],
               results: list[dict[str, Any]] | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` (``config`` + format + weights digest) and ``README.md``."""
    out_dir = Path(out_dir)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    weights = out_dir / "model.safetensors"
    # one metadata key: safetensors writes several in hash-map order, so the file's bytes (and the sha256 the zoo pins)
    # would change from one export of the same checkpoint to the next; config.json names the architecture
    atomic_write_bytes(weights, save(state, metadata={"format": "pt"}))
    cfg = {**config, "format": CONFIG_FORMAT, "weights_sha256": sha256_file(weights),
           "num_params": sum(p.numel() for p in model.parameters())}
    atomic_write_json(out_dir / "config.json", cfg)
    atomic_write_text(out_dir / "README.md", str(build_model_card(cfg, results or [])))
    return out_dir


# metadata (task, input convention, paper) for a bare architecture class, taken from the entry of that family
_ARCH_METADATA = {"BlurFieldNet": "blurfield-small", "DRUNet": "drunet-color", "DeblurGANGenerator": "deblurgan-v1",
                  "FPNGenerator": "deblurganv2-fpn-mobilenet"}


def convert(name: str | None, checkpoint: str | Path, out_dir: str | Path, *, arch: str | None = None,
            ctor_args: Mapping[str, Any] | None = None, prefix: str | None = None,
            model_name: str | None = None, recipe: Mapping[str, Any] | None = None) -> Path:
    """Convert an official file or a ``blurbench fit`` checkpoint to our format in ``out_dir``.

    ``name`` picks the zoo entry (architecture, converter, metadata); ``arch``/``ctor_args`` override it (e.g. a
    trained net of another width). A checkpoint of a blurbench training task needs neither: the network it holds
    is recorded in it. ``prefix`` selects the sub-module of a wrapped checkpoint (``net.``). ``recipe`` records how
    the weights were made (config, command, steps) in ``config.json``.
    """
    # breaks a real cycle: sources.py loads through this module
    from blurbench.zoo.sources import CKPT_SUFFIX, _checkpoint_network

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: no such file", "pass the checkpoint path to --checkpoint")
    obj = read_checkpoint(checkpoint)
    spec = get_model_spec(name) if name else None
    task = None
    if spec is None and arch is None:
        if checkpoint.suffix != CKPT_SUFFIX and not _is_lightning_checkpoint(obj):
            raise ConfigError("convert needs a zoo model name or --arch", "`blurbench zoo list` shows the names")
        arch, recorded, found_prefix, task = _checkpoint_network(obj, checkpoint)
        ctor_args = {**recorded, **(ctor_args or {})}
        prefix = prefix or found_prefix
    arch = arch or spec.arch
    args = {**(spec.ctor_args if spec and arch == spec.arch else {}), **(ctor_args or {})}
    meta = spec or (get_model_spec(_ARCH_METADATA[arch]) if arch in _ARCH_METADATA else None)
    model = build_arch(arch, args)
    source_sha = sha256_file(checkpoint)
    w = spec.weights if spec else None
    converter = w.converter if w else detect_converter(obj, arch)
    sd = convert_checkpoint(obj, converter, set(model.state_dict()), prefix)
    load_state_dict_strict(model, sd, str(checkpoint))
    official = bool(w and w.sha256 and w.sha256 == source_sha)
    config = {
        "name": model_name or (spec.name if spec else checkpoint.stem),
        "arch": arch, "ctor_args": args,
        "task": task or (meta.task if meta else ""), "input_convention": meta.input_convention if meta else "",
        "io_range": list(meta.io_range if meta else ARCH_IO_RANGE.get(arch, (0.0, 1.0))),
        "license": spec.license if spec else "", "paper": meta.paper if meta else "",
        "description": spec.description if spec else f"{arch} {json.dumps(args)} converted from {checkpoint.name}",
        "source": {"file": checkpoint.name, "sha256": source_sha, "official": official,
                   "kind": ("lightning-checkpoint" if _is_lightning_checkpoint(obj) else (w.kind if official and w
                                                                                          else "file")),
                   "location": w.location() if official and w else str(checkpoint.name)},
    }
    if recipe:
        config["recipe"] = dict(recipe)
        if isinstance(obj, Mapping):
            config["recipe"].update(epoch=obj.get("epoch"), global_step=obj.get("global_step"))
    return save_local(model, out_dir, config)


def _check_results_weights(entries: list[dict[str, Any]], weights_sha256: str, results: str | Path,
                           directory: Path) -> None:
    """Refuse results that were measured with other weights than the ones being pushed."""
    for e in entries:
        measured = str((e.get("provenance") or {}).get("weights_sha256") or "none").split(",")
        if weights_sha256 not in measured:
            raise DataError(f"{results}: {e['method']} on {e['dataset']} was measured with weights sha256 "
                            f"{','.join(m[:12] for m in measured)}, not {directory}/model.safetensors "
                            f"({weights_sha256[:12]})", f"evaluate this directory (`blurbench evaluate --methods "
                            f"{directory}`) and push those results")


def push(directory: str | Path, repo_id: str, *, results: str | Path | None = None, method: str | None = None,
         private: bool | None = None, token: str | None = None, commit_message: str | None = None) -> str:
    """Upload a directory in our format to the Hub (:func:`blurbench.hub.upload`); returns the commit URL.

    With ``results`` (a blurbench ``leaderboard.json``) the model card is rewritten first so that its
    ``model-index`` carries the measured results of ``method`` (default: the config's name).
    """

    directory = Path(directory)
    cfg = read_config(directory)
    verify_file(directory / "model.safetensors", cfg.get("weights_sha256"), None, str(directory / "model.safetensors"))
    entries: list[dict[str, Any]] = []
    if results is not None:
        entries = entries_for_model(results, method or cfg["name"])
        _check_results_weights(entries, cfg["weights_sha256"], results, directory)
        atomic_write_text(directory / "README.md", str(build_model_card(cfg, entries, repo_id=repo_id)))
    files = {name: directory / name for name in ("model.safetensors", "config.json", "README.md")
             if (directory / name).is_file()}
    return upload(repo_id, files, private=private, token=token,
                  commit_message=commit_message or f"blurbench: upload {cfg['name']}")
