"""The Debian training-photo folder: .deb reading, pinned files, resizing, apt-get and its failures."""

import hashlib
import io
import json
import os
import stat
import tarfile

import cv2
import numpy as np
import pytest

import blurbench.datamodules.debian_photos as dp
from blurbench.datamodules.skimage_train import SkimageBlurDataModule
from blurbench.errors import ConfigError, DataError


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    assert len(header) == 60
    return header + data + (b"\n" if len(data) % 2 else b"")


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(path, files: dict[str, bytes]) -> None:
    """A .deb as dpkg-deb writes it: ar of debian-binary, control.tar.xz (odd length here), data.tar.xz."""
    control = _tar_xz({"control": b"Package: fake\n"})
    if len(control) % 2 == 0:
        control += b"\0"  # an odd-sized member before data.tar: the reader must skip its padding byte
    path.write_bytes(b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n") + _ar_member("control.tar.xz", control)
                     + _ar_member("data.tar.xz", _tar_xz(files)))


def _jpeg(h: int, w: int, seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Two fake packages with three pinned photos; the scikit-image folder replaced by one small image."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BLURBENCH_CACHE", str(cache))
    big, small, other = _jpeg(400, 600, 0), _jpeg(200, 300, 1), _jpeg(700, 500, 2)
    debs = tmp_path / "debs"
    debs.mkdir()
    _deb(debs / "pkg-a_1.0-1_all.deb", {"usr/share/a/big.jpg": big, "usr/share/a/small.jpg": small,
                                        "usr/share/a/unused.jpg": b"not listed"})
    _deb(debs / "pkg-b_2%3a3.0_all.deb", {"usr/share/b/tall.jpg": other})
    monkeypatch.setattr(dp, "PACKAGES", {"pkg-a": "1.0-1", "pkg-b": "2:3.0"})
    photos = (("pkg-a", "big", "usr/share/a/big.jpg", hashlib.sha256(big).hexdigest()),
              ("pkg-a", "small", "usr/share/a/small.jpg", hashlib.sha256(small).hexdigest()),
              ("pkg-b", "tall", "usr/share/b/tall.jpg", hashlib.sha256(other).hexdigest()))
    monkeypatch.setattr(dp, "PHOTOS", photos)
    sk = tmp_path / "skimage"
    sk.mkdir()
    cv2.imwrite(str(sk / "brick.png"), np.full((20, 30, 3), 7, np.uint8))
    (sk / "manifest.json").write_text(json.dumps({"files": {"brick.png": "x"}}))
    monkeypatch.setattr(dp, "prepare_training_images", lambda: sk)
    return {"debs": debs, "big": big, "other": other, "tmp": tmp_path}


def test_folder_from_deb_files_holds_resized_pinned_photos_and_the_skimage_images(fake):
    root = dp.prepare_debian_photos(deb_dir=fake["debs"])
    assert root == dp.debian_photos_dir() and root.is_dir()
    names = sorted(p.name for p in root.glob("*.png"))
    # no upscaling: the 300-px photo has no 512 version; the 600 x 400 one has both; skimage's copy is there
    assert names == ["big-256.png", "big-512.png", "brick.png", "small-256.png", "tall-256.png", "tall-512.png"]
    src = cv2.imdecode(np.frombuffer(fake["big"], np.uint8), cv2.IMREAD_COLOR)
    out = cv2.imread(str(root / "big-256.png"))
    assert out.shape == (171, 256, 3)
    np.testing.assert_array_equal(out, cv2.resize(src, (256, 171), interpolation=cv2.INTER_AREA))
    assert cv2.imread(str(root / "tall-512.png")).shape == (512, 366, 3)  # the long side is the height
    manifest = json.loads((root / "manifest.json").read_text())
    assert set(manifest["files"]) == set(names)
    assert manifest["files"]["big-256.png"] == hashlib.sha256((root / "big-256.png").read_bytes()).hexdigest()
    assert not list(root.parent.glob(".debian-photos-*"))  # the build folder is gone


def test_an_intact_folder_is_reused_and_a_damaged_one_rebuilt(fake):
    root = dp.prepare_debian_photos(deb_dir=fake["debs"])
    stamp = (root / "big-256.png").stat().st_mtime_ns
    assert dp.prepare_debian_photos(deb_dir=fake["tmp"] / "nowhere") == root  # nothing fetched
    (root / "big-256.png").write_bytes(b"damaged")
    dp.prepare_debian_photos(deb_dir=fake["debs"])
    assert cv2.imread(str(root / "big-256.png")).shape == (171, 256, 3)
    assert (root / "big-256.png").stat().st_mtime_ns != stamp


def test_a_package_with_another_file_is_refused(fake, monkeypatch):
    photos = list(dp.PHOTOS)
    photos[2] = photos[2][:3] + ("0" * 64,)
    monkeypatch.setattr(dp, "PHOTOS", tuple(photos))
    with pytest.raises(DataError, match=r"pkg-b_2%3a3.0_all.deb: usr/share/b/tall.jpg differs .* fetch pkg-b 2:3.0"):
        dp.prepare_debian_photos(deb_dir=fake["debs"])
    assert not dp.debian_photos_dir().exists()  # nothing half-written is left as the folder


def test_missing_deb_and_a_file_that_is_no_package_are_named(fake):
    (fake["debs"] / "pkg-b_2%3a3.0_all.deb").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"pkg-b_2%3a3.0_all.deb: not a Debian package"):
        dp.prepare_debian_photos(deb_dir=fake["debs"])
    (fake["debs"] / "pkg-b_2%3a3.0_all.deb").write_bytes(b"!<arch>\n" + b"debian-binary   " + b"x" * 44)
    with pytest.raises(DataError, match=r"pkg-b_2%3a3.0_all.deb: damaged ar header"):
        dp.prepare_debian_photos(deb_dir=fake["debs"])
    (fake["debs"] / "pkg-b_2%3a3.0_all.deb").unlink()
    with pytest.raises(DataError, match=r"pkg-b_2%3a3.0_all.deb is missing: .*apt-get download pkg-b=2:3.0"):
        dp.prepare_debian_photos(deb_dir=fake["debs"])


def _fake_apt(bin_dir, debs, rc: int = 0) -> None:
    """An apt-get that 'downloads' NAME=VERSION by copying the matching .deb into the working directory."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "apt-get"
    script.write_text(
        "#!/bin/sh\n"
        f'[ {rc} -eq 0 ] || {{ echo "E: Unable to locate package $2" >&2; exit {rc}; }}\n'
        'pkg=${2%%=*}; ver=${2#*=}; ver=$(echo "$ver" | sed "s/:/%3a/")\n'
        f'cp "{debs}/${{pkg}}_${{ver}}_all.deb" .\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_apt_get_download_is_used_without_a_deb_folder(fake, monkeypatch):
    bin_dir = fake["tmp"] / "bin"
    _fake_apt(bin_dir, fake["debs"], rc=100)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DataError, match=r"apt-get download pkg-a=1.0-1 failed \(E: Unable to locate .*apt-get update"):
        dp.prepare_debian_photos()
    _fake_apt(bin_dir, fake["debs"])
    root = dp.prepare_debian_photos()
    assert (root / "tall-512.png").is_file() and not (root / ".debs").exists()


def test_no_apt_get_says_how_to_bring_the_packages(fake, monkeypatch):
    monkeypatch.setenv("PATH", str(fake["tmp"] / "empty"))
    with pytest.raises(DataError, match=r"no apt-get here; download pkg-a_1.0-1_all.deb .* photos_deb_dir"):
        dp.prepare_debian_photos()


def test_datamodule_trains_on_the_photo_folder(fake):
    dm = SkimageBlurDataModule(photos="debian", photos_deb_dir=str(fake["debs"]), kernel_bank=None, crop_size=48,
                               eval_crop_size=48, val_fraction=0.0, samples_per_epoch=2, batch_size=2, num_workers=0)
    assert dm.root == dp.debian_photos_dir()
    dm.prepare_data()
    train = dm._dataset("train")
    assert sorted(item.id for item in train.items) == sorted(p.name for p in dm.root.glob("*.png"))
    sample = train[0]
    assert sample["blurry"].shape == (3, 48, 48) and sample["sharp"].shape[0] == 3
    with pytest.raises(ConfigError, match="either root"):
        SkimageBlurDataModule(root=str(fake["tmp"]), photos="debian")
    with pytest.raises(ConfigError, match="photos='imagenet' is not a training photo set"):
        SkimageBlurDataModule(photos="imagenet")


def test_a_bad_photos_value_in_a_recipe_is_one_line(capsys):
    from blurbench.cli import main

    rc = main(["fit", "--config", "deblurgan/small_cpu_stage3", "--data.init_args.photos", "imagenet",
               "--trainer.fast_dev_run=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1] == ("blurbench: error: photos='imagenet' is not a training photo set — use photos: debian "
                       "(Debian's photographs) or leave it unset (scikit-image's images)")
    assert not any("Traceback" in line or "Namespace(" in line for line in err)
