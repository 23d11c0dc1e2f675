"""Issue 16: every bad input and fault gets one line, exit code 2 (or 128 + signal), and keeps what was written.

Each case runs the CLI in a subprocess, as a user would, on a tiny tree (3 built-in pairs as PNG and as JPEG) whose
``out/`` already holds rows of an earlier run, and checks: the exit code, exactly one line on stderr (no
traceback) naming the problem, and that every input file and the earlier results are byte-identical after.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, run_cli

PHOTOS = ("astronaut", "coffee", "chelsea")


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory) -> Path:
    """pairs/ (PNG), jpg/ (the same pairs as JPEG), a plain file, and out/ with the rows of an earlier run."""
    import cv2

    from blurbench.datamodules import builtin

    src = builtin.prepare("motion")
    root = tmp_path_factory.mktemp("tree")
    for kind in ("blurry", "sharp"):
        for sub in ("pairs", "jpg"):
            (root / sub / kind).mkdir(parents=True)
        for photo in PHOTOS:
            shutil.copy(src / photo / f"{kind}.png", root / "pairs" / kind / f"{photo}.png")
            img = cv2.imread(str(src / photo / f"{kind}.png"))
            cv2.imwrite(str(root / "jpg" / kind / f"{photo}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (root / "afile").write_text("not a folder\n")
    earlier = run_cli("evaluate", "--suite", "folder", "--data-root", str(root / "pairs"), "--methods", "identity",
                      "--limit", "2", "--out", str(root / "out"), "--accelerator", "cpu", "--no-progress")
    assert earlier.returncode == 0, earlier.stderr[-2000:]
    return root


@pytest.fixture()
def tree(base_tree, tmp_path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(base_tree, root)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every input file and the earlier results (not logs) by relative path."""
    files = [p for p in root.rglob("*") if p.is_file() and not {"logs", "tb"} & set(p.relative_to(root).parts)]
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def assert_one_line(result: subprocess.CompletedProcess, code: int, expected: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def _grey(path: Path) -> None:
    import cv2

    cv2.imwrite(str(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def _evil_checkpoint(path: Path) -> None:
    # a pickle that names a class: unpickling it would import and run code, which torch's weights_only refuses
    path.write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")


EV = ("evaluate", "--accelerator", "cpu", "--no-progress")
FOLDER = (*EV, "--suite", "folder", "--methods", "identity")
PRED = ("predict", "--method", "identity", "--accelerator", "cpu", "--no-progress")

# (id, argv with {T} for the tree, damage to apply first, env, expected text of the one line)
CASES = [
    ("predict-output-is-input", (*PRED, "--input", "{T}/pairs/blurry", "--output", "{T}/pairs/blurry"), None, {},
     "is the --input folder"),
    ("predict-output-inside-input", (*PRED, "--input", "{T}/pairs/blurry", "--output", "{T}/pairs/blurry/out"), None,
     {}, "lies inside the --input folder"),
    ("predict-output-is-folder-of-input-file",
     (*PRED, "--input", "{T}/pairs/blurry/coffee.png", "--output", "{T}/pairs/blurry"), None, {}, "would overwrite"),
    ("predict-output-is-a-file", (*PRED, "--input", "{T}/pairs/blurry", "--output", "{T}/afile"), None, {},
     "is a file"),
    ("evaluate-out-is-a-file", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/afile"), None, {}, "is a file"),
    ("evaluate-out-under-a-file", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/afile/run"), None, {},
     "lies under the file"),
    ("cache-is-a-file", (*EV, "--methods", "identity", "--datasets", "motion", "--limit", "1", "--out", "{T}/out"),
     None, {"BLURBENCH_CACHE": "{T}/afile"}, "BLURBENCH_CACHE="),
    ("cache-under-a-file", (*EV, "--methods", "identity", "--datasets", "motion", "--limit", "1", "--out", "{T}/out"),
     None, {"BLURBENCH_CACHE": "{T}/afile/cache"}, "lies under the file"),
    ("devices-abc", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/out", "--devices", "abc"), None, {},
     "'abc' is not a device count"),
    ("limit-0", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/out", "--limit", "0"), None, {},
     "'0' is not a whole number >= 1"),
    ("limit-minus-1", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/out", "--limit", "-1"), None, {},
     "'-1' is not a whole number >= 1"),
    ("predict-devices-abc", (*PRED, "--input", "{T}/pairs/blurry", "--output", "{T}/pred", "--devices", "abc"), None,
     {}, "'abc' is not a device count"),
    ("truncated-jpeg-evaluate", (*FOLDER, "--data-root", "{T}/jpg", "--out", "{T}/out"), "jpg/sharp/coffee.jpg", {},
     "coffee.jpg: unreadable image (truncated JPEG"),
    ("truncated-jpeg-predict", (*PRED, "--input", "{T}/jpg/blurry", "--output", "{T}/pred"), "jpg/blurry/coffee.jpg",
     {}, "coffee.jpg: unreadable image (truncated JPEG"),
    ("truncated-png-evaluate", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/out"), "pairs/blurry/coffee.png",
     {}, "coffee.png: unreadable image"),
    ("grey-blurry-rgb-sharp", (*FOLDER, "--data-root", "{T}/pairs", "--out", "{T}/out"), "grey:pairs/blurry/coffee.png",
     {}, "coffee.png: greyscale, but its partner"),
    ("folder-suite-oracle-method", (*EV, "--suite", "folder", "--data-root", "{T}/pairs", "--methods", "rl-oracle",
                                    "--out", "{T}/out"), None, {}, "needs a ground-truth blur field"),
    ("folder-suite-kernel-estimation", (*EV, "--suite", "folder", "--data-root", "{T}/pairs", "--methods",
                                        "mean-kernel", "--out", "{T}/out"), None, {},
     "needs a ground-truth blur field"),
    ("validate-code-pickle", ("validate", "--model", "blurbench.tasks.nonblind.Identity", "--data",
                              "blurbench.datamodules.builtin.BuiltinImageDataModule", "--data.name", "motion",
                              "--trainer.logger", "false", "--ckpt_path", "{T}/evil.ckpt"), "evil:evil.ckpt", {},
     "evil.ckpt: refused: loading it would run code"),
]


def _fill(value: str, root: Path) -> str:
    return value.replace("{T}", str(root))


@pytest.mark.parametrize("argv, damage, env, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_one_line_nothing_lost(tree, argv, damage, env, expected):
    if damage:
        kind, _, rel = damage.rpartition(":")
        {"grey": _grey, "evil": _evil_checkpoint, "": _truncate}[kind](tree / rel)
    before = snapshot(tree)
    result = run_cli(*(_fill(a, tree) for a in argv), env={k: _fill(v, tree) for k, v in env.items()}, cwd=tree)
    assert_one_line(result, 2, expected)
    assert snapshot(tree) == before, "an input or an earlier row changed"


def test_accelerator_gpu_without_gpu(tree):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    for argv in ((*FOLDER[:1], "--suite", "folder", "--data-root", str(tree / "pairs"), "--out", str(tree / "out")),
                 ("predict", "--method", "identity", "--input", str(tree / "pairs/blurry"), "--output",
                  str(tree / "pred"))):
        before = snapshot(tree)
        assert_one_line(run_cli(*argv, "--accelerator", "gpu"), 2, "--accelerator gpu: no CUDA GPU")
        assert snapshot(tree) == before


def _read_only(path: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``path`` read-only: a read-only bind mount in a private mount namespace as root (permission
    bits do not stop root), a chmod otherwise."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return argv
    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("root without mount namespaces: no way to make a read-only folder")
    p = shlex.quote(str(path))
    return ["unshare", "-m", "sh", "-c", f"mount --bind {p} {p} && mount -o remount,bind,ro {p} {p} && exec "
            + " ".join(shlex.quote(a) for a in argv)]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_read_only_output_is_refused_before_any_work(tree, command):
    blurbench = [sys.executable, "-m", "blurbench"]
    if command == "evaluate":
        target = tree / "out"
        argv = [*blurbench, *FOLDER, "--data-root", str(tree / "pairs"), "--out", str(target)]
    else:
        target = tree / "pred"
        target.mkdir()
        argv = [*blurbench, *PRED, "--input", str(tree / "pairs/blurry"), "--output", str(target)]
    before = snapshot(tree)
    result = subprocess.run(_read_only(target, argv), capture_output=True, text=True, cwd=REPO, timeout=300)
    target.chmod(0o755)
    assert_one_line(result, 2, "is not writable")
    assert snapshot(tree) == before


def test_predict_inputs_untouched_and_outputs_complete(tree):
    """The supported way: another folder. No temporary file is left, the inputs are unchanged."""
    before = snapshot(tree / "pairs")
    ok = run_cli(*PRED, "--input", str(tree / "pairs/blurry"), "--output", str(tree / "pred"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert sorted(p.name for p in (tree / "pred").iterdir()) == sorted(f"{p}.png" for p in PHOTOS)
    assert snapshot(tree / "pairs") == before


# ------------------------------------------------------------------------------------------------------ signals
def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_during_evaluate_keeps_rows_and_resumes(tmp_path, signum, code):
    """A real `blurbench evaluate` is signalled mid-run: conventional exit code, one line saying how many rows are
    kept, earlier rows byte-identical, and re-running the same command completes without duplicates."""
    out = tmp_path / "run"
    argv = [*EV, "--methods", "identity,tv-oracle", "--datasets", "motion", "--out", str(out)]
    first = run_cli(*EV, "--methods", "identity", "--datasets", "motion", "--limit", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    earlier = (out / "results.jsonl").read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "blurbench", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    partial = out / ".partial" / "rank0.jsonl"
    deadline = time.monotonic() + 300
    while len(_rows(partial)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait for work in progress: rows of this run are being written
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(argv, proc.returncode, "", stderr)
    line = assert_one_line(result, code, f"interrupted by {signal.Signals(signum).name}")
    kept = int(re.search(r"(\d+) rows? kept", line).group(1))
    from blurbench.results import ResultsStore

    assert kept == len(ResultsStore(out).load()) > 2
    assert "re-run the same command to resume" in line
    assert (out / "results.jsonl").read_bytes().startswith(earlier), "earlier rows changed"
    if signum == signal.SIGTERM:
        again = run_cli(*argv)
        assert again.returncode == 0, again.stderr[-2000:]
        rows = [json.loads(x) for x in _rows(out / "results.jsonl")]
        keys = [(r["method"], r["id"]) for r in rows]
        assert len(keys) == len(set(keys)) == 16  # 2 methods x 8 photos, each once
        assert (out / "results.jsonl").read_bytes().startswith(earlier)


# -------------------------------------------------------------------------------------------------------- hints
HINT = re.compile(r"`(blurbench [^`]+)`")


def _static_hints() -> set[str]:
    """Every `blurbench ...` command quoted in the package's source (error hints, help texts)."""
    found = set()
    for path in (REPO / "blurbench").rglob("*.py"):
        found |= set(HINT.findall(path.read_text()))
    return found


def _command_words(hint: str) -> list[str]:
    """The subcommand path of a hint, up to its first option, placeholder or format field."""
    words = []
    for word in hint.split()[1:]:
        if word.startswith(("-", "{", "<", "@")) or word.isupper() or not re.fullmatch(r"[a-z][a-z0-9-]*", word):
            break
        words.append(word)
    return words


def test_every_quoted_command_exists():
    """Each quoted command's subcommands parse (`--help` exits 0): no hint names a command that does not exist."""
    from blurbench.cli import build_parser

    hints = _static_hints()
    assert len(hints) > 10
    lightning = {"fit", "validate", "test"}
    for hint in sorted(hints):
        words = _command_words(hint)
        if not words or words[0] in lightning:
            continue
        parser = build_parser()
        probe = list(words)
        # positional arguments (a dataset or model name) stay: argparse accepts any value there
        with pytest.raises(SystemExit) as done:
            parser.parse_args([*probe, "--help"])
        assert done.value.code == 0, hint


@pytest.mark.slow
def test_hints_printed_by_error_paths_run(tree):
    """Collect the hints the error paths print on a tiny tree and run each one: it must be a command that exists
    and does its job (exit 0, or 2 with its own report — never a usage error)."""
    _truncate(tree / "pairs" / "sharp" / "coffee.png")
    triggers = [
        (*FOLDER, "--data-root", str(tree / "pairs"), "--out", str(tree / "o")),           # corrupt pair
        (*EV, "--suite", "folder", "--methods", "identity", "--out", str(tree / "o")),       # no --data-root
        (*EV, "--suite", "gopro", "--methods", "identity", "--out", str(tree / "o")),        # no --data-root
        (*EV, "--suite", "folder", "--data-root", str(tree / "pairs"), "--methods", "carbajal2021",
         "--out", str(tree / "o")),                                                         # weights / GT field
        ("evaluate", "--methods", "nope"),                                                  # unknown method
        ("evaluate", "--devices", "abc"),                                                   # usage error
    ]
    hints = set()
    for argv in triggers:
        result = run_cli(*argv, cwd=tree)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
        hints |= set(HINT.findall(result.stderr))
    assert any("data check pairs" in h for h in hints), hints
    for hint in sorted(hints):
        words = [w.replace("PATH", str(tree / "pairs")) for w in shlex.split(hint)[1:]]
        if words[:2] in (["zoo", "pull"], ["data", "download"]):
            words.append("--help")  # these fetch over the network: check the command and its arguments parse
        ran = run_cli(*words, cwd=tree)
        if ran.returncode != 0 and _command_words(hint) == words:
            ran = run_cli(*words, "--help", cwd=tree)  # a command named, not a call: `blurbench fit`
            assert ran.returncode == 0, (hint, ran.stderr[-2000:])
        assert ran.returncode in (0, 2), (hint, ran.stderr[-2000:])
        assert "--help`" not in ran.stderr and "Traceback" not in ran.stderr, (hint, ran.stderr[-2000:])
        if ran.returncode == 2:
            assert "coffee.png" in ran.stdout + ran.stderr, (hint, ran.stdout)


def test_data_check_reports_truncated_jpeg_and_grey_pair(tree):
    _truncate(tree / "jpg" / "blurry" / "coffee.jpg")
    _grey(tree / "pairs" / "blurry" / "chelsea.png")
    for name, expected in (("jpg", "coffee.jpg: unreadable image (truncated JPEG"),
                           ("pairs", "chelsea.png: greyscale, but its partner")):
        before = snapshot(tree)
        res = run_cli("data", "check", "pairs", "--root", str(tree / name))
        assert res.returncode == 2 and expected in res.stdout and "Traceback" not in res.stderr, res.stdout
        assert snapshot(tree) == before


def test_readme_folder_command_default_set_runs_on_pairs(tree):
    """`blurbench evaluate --suite folder --data-root DIR` (README): the default set holds only methods that run on
    pairs without a ground-truth field."""
    from blurbench.evaluation import plan

    chosen = plan("folder", None, None).methods
    assert chosen and all(not m.uses_gt_field and m.task != "kernel-estimation" for m in chosen)
    assert {"rl-oracle", "tv-oracle", "mean-kernel"}.isdisjoint(m.name for m in chosen)
    assert "identity" in {m.name for m in chosen}


# ------------------------------------------------------------------------------------------------- large inputs
def test_tiles_put_together_equal_the_whole_image(monkeypatch):
    """Every pixel of a per-pixel output comes from exactly one tile's core, at its place (odd sizes, edge tiles)."""
    import torch

    from blurbench.tasks import tiling

    monkeypatch.setattr(tiling, "TILE_ABOVE", 1000)
    monkeypatch.setattr(tiling, "TILE", 40)
    monkeypatch.setattr(tiling, "MARGIN", 7)
    seen = []

    def step(batch):
        x = batch["blurry"]
        seen.append(tuple(x.shape[-2:]))
        # a local operation (3x3 mean) so a tile without its margin would differ at its border
        local = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return {"id": batch["id"], "restored": local, "score": local.mean(1, keepdim=True), "kernels": torch.ones(2)}

    image = torch.rand(1, 3, 101, 87, generator=torch.Generator().manual_seed(0))
    whole = step({"id": ["x"], "blurry": image})
    tiled = tiling.run_in_tiles(step, {"id": ["x"], "blurry": image})
    assert len(seen) == 1 + 3 * 3  # the whole image, then 3 x 3 tiles
    for key in ("restored", "score"):
        assert torch.equal(tiled[key], whole[key]), key
    assert tiled["id"] == ["x"] and torch.equal(tiled["kernels"], torch.ones(2))


def test_evaluate_restores_and_scores_large_images_in_tiles(monkeypatch):
    """evaluate runs a method on tiles of a large image (every per-pixel input, e.g. the mixing maps, cropped
    alike) and scores the whole image: the same rows as without tiles for a local method."""
    import torch

    from blurbench.tasks import tiling
    from blurbench.tasks.base import ImageRestorationTask
    from blurbench.tasks.detection import BlurDetectionTask

    sizes = []

    def local(batch):
        x, m = batch["blurry"], batch["mixing"]
        assert m.shape[-2:] == x.shape[-2:], "per-pixel inputs cropped with the image"
        sizes.append(tuple(x.shape[-2:]))
        return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False) * m[:, :1]

    class Restore(ImageRestorationTask):
        def restore(self, batch):
            return local(batch)

    class Detect(BlurDetectionTask):
        def blur_score(self, batch):
            return local(batch).mean(1, keepdim=True)

    g = torch.Generator().manual_seed(0)
    batch = {"id": ["a"], "blurry": torch.rand(1, 3, 101, 87, generator=g),
             "sharp": torch.rand(1, 3, 101, 87, generator=g), "mixing": torch.rand(1, 2, 101, 87, generator=g),
             "kernels": torch.ones(1, 2, 5, 5) / 25, "mask": torch.rand(1, 1, 101, 87, generator=g) > 0.5}
    whole = Restore().evaluate_batch(batch), Detect().evaluate_batch(batch)
    monkeypatch.setattr(tiling, "TILE_ABOVE", 1000)
    monkeypatch.setattr(tiling, "TILE", 40)
    monkeypatch.setattr(tiling, "MARGIN", 3)
    sizes.clear()
    tiled = Restore().evaluate_batch(batch), Detect().evaluate_batch(batch)
    assert len(sizes) == 2 * 9 and max(h * w for h, w in sizes) < 101 * 87
    assert tiled == whole


def test_kernel_estimation_refuses_images_above_its_limit(tmp_path, monkeypatch):
    """predict, and evaluate on real photos, refuse kernel estimation (full-size maps, no tiles) on an image above
    the limit with one line, before any work."""
    from blurbench import prediction
    from blurbench.datamodules import builtin
    from blurbench.errors import ConfigError
    from blurbench.evaluation import evaluate
    from blurbench.tasks import tiling

    monkeypatch.setattr(tiling, "FIELD_MAX_PIXELS", 10_000)
    photo = builtin.prepare("motion") / "coffee" / "blurry.png"
    with pytest.raises(ConfigError, match=r"blurry.png: \d+x\d+ .* is above the 0.01 MP"):
        prediction.predict("mean-kernel", photo, tmp_path / "out", accelerator="cpu", progress=False)
    assert not (tmp_path / "out").exists(), "refused before any work"
    (tmp_path / "photos").mkdir()
    shutil.copy(photo, tmp_path / "photos" / "coffee.png")
    with pytest.raises(ConfigError, match=r"coffee.png: \d+x\d+ .* kernel estimation \('mean-kernel'\)"):
        evaluate("real-folder", ["identity", "mean-kernel"], data_root=tmp_path / "photos", out=tmp_path / "run",
                 accelerator="cpu", progress=False)
    assert not (tmp_path / "run" / "results.jsonl").exists(), "refused before any work"


def test_wide_field_network_has_a_lower_limit_refused_in_one_line(tmp_path):
    """The released Carbajal et al. network (width 64: full-size 64-channel activations) runs on fewer pixels than the
    5 MP of blurfield-small, derived from its width; the limit is known before any weights are read (the net is
    built on the meta device), so an image above it is refused in one line without running or loading the network."""
    import cv2
    import numpy as np

    from blurbench.tasks import tiling
    from blurbench.tasks.registry import get_method

    assert tiling.field_limit(get_method("blurfield-small")) == tiling.FIELD_MAX_PIXELS == 5_000_000
    assert tiling.field_limit(get_method("mean-kernel")) == tiling.FIELD_MAX_PIXELS  # no network
    limit = tiling.field_limit(get_method("carbajal2021"))  # registered, weights absent: nothing is downloaded
    assert limit == tiling.field_max_pixels(64) and 1_500_000 < limit < 2_500_000
    (tmp_path / "in").mkdir()
    side = int(limit**0.5) + 10  # just above the limit; a flat image keeps the file tiny
    cv2.imwrite(str(tmp_path / "in" / "photo.png"), np.full((side, side, 3), 128, np.uint8))
    (tmp_path / "carbajal.yaml").write_text(
        "class_path: blurbench.tasks.kernel_estimation.BlurFieldNetMethod\ninit_args: {model: carbajal2021}\n")
    res = run_cli("predict", "--method", f"@{tmp_path / 'carbajal.yaml'}", "--input", str(tmp_path / "in"),
                  "--output", str(tmp_path / "out"), "--accelerator", "cpu", "--no-progress")
    line = assert_one_line(res, 2, f"above the {limit / 1e6:g} MP that kernel estimation")
    assert "downscale the image (e.g. to " in line and not (tmp_path / "out").exists()


def test_real_suite_runs_large_photos_in_tiles(tmp_path, monkeypatch):
    """On real photos (no ground truth) evaluate runs methods for their outputs through the same tiler: a local
    method's pictures are the same tiled as whole, and the report keeps one whole picture per photo (never a tile)."""
    import cv2
    import numpy as np

    from blurbench.evaluation import evaluate
    from blurbench.tasks import tiling
    from blurbench.tasks.detection import LaplacianBlurDetection

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.random.default_rng(0).integers(0, 256, (101, 87, 3), dtype=np.uint8))
    sizes = []
    score = LaplacianBlurDetection.blur_score
    monkeypatch.setattr(LaplacianBlurDetection, "blur_score",
                        lambda self, batch: sizes.append(tuple(batch["blurry"].shape[-2:])) or score(self, batch))

    def run(out):
        sizes.clear()
        evaluate("real-folder", ["identity", "laplacian-blur"], data_root=photos, out=out, accelerator="cpu",
                 progress=False)
        return {str(p.relative_to(out)): p.read_bytes() for p in (out / "report").rglob("*.png")}

    whole = run(tmp_path / "whole")
    assert set(sizes) == {(101, 87)}
    monkeypatch.setattr(tiling, "TILE_ABOVE", 1000)
    monkeypatch.setattr(tiling, "TILE", 40)
    monkeypatch.setattr(tiling, "MARGIN", 8)  # beyond the 9x9 window and 3x3 Laplacian's reach
    tiled = run(tmp_path / "tiled")
    assert max(h * w for h, w in sizes) < 101 * 87 and len(sizes) >= 9, sizes
    assert {"report/photos/identity/a.png.png", "report/photos/laplacian-blur/a.png.png"} <= set(tiled), sorted(tiled)
    assert tiled == whole
