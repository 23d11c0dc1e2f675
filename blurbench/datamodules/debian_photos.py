"""Natural training photographs from Debian packages (wallpapers, OpenCV's sample data): no other download.

The offline machines reach Debian's package archive but no photo collection; scikit-image's training images
(:data:`~blurbench.datamodules.skimage_train.TRAIN_IMAGES`) are mostly grey, flat or synthetic, and a deblurring
net trained on them and dead leaves loses on foliage and fur. :data:`PHOTOS` lists 32 colour photographs with
texture (plants, flowers, fur, buildings, fruit; no illustration, no benchmark photo) from three packages of
Debian 12 at pinned versions (:data:`PACKAGES`). :func:`prepare_debian_photos` fetches each package with
``apt-get download NAME=VERSION`` (or takes the ``.deb`` files from ``deb_dir``, for machines without apt), reads
the listed files out of its ``data.tar`` (ar + tar in Python: no dpkg needed), checks their sha256, resizes each
to long sides of 256 and 512 px (``cv2.INTER_AREA``; the built-in test photos are 256 px, the val crops are
quadrants of 512-px renderings; no upscaling) and writes 8-bit PNGs ``<name>-<long side>.png`` beside a copy of
the scikit-image training images, with a sha256 ``manifest.json``, into ``<cache>/train/debian-photos-v<version>``.
The photographs keep their authors' licences (see each package's copyright file); they are used to train, not
redistributed.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import cv2
import numpy as np

from blurbench.cache import cache_dir
from blurbench.datamodules.skimage_train import build_cached_folder, prepare_training_images
from blurbench.errors import DataError
from blurbench.io import sha256_file

__all__ = ["LONG_SIDES", "PACKAGES", "PHOTOS", "debian_photos_dir", "prepare_debian_photos", "read_deb_members"]

#: bump when the written images change
VERSION = "1"
LONG_SIDES = (256, 512)
#: Debian 12 (bookworm) packages and the versions whose files :data:`PHOTOS` pins
PACKAGES = {
    "mate-backgrounds": "1.26.0-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "opencv-doc": "4.6.0+dfsg-12",
}
_M = "usr/share/backgrounds/mate/nature/"
_P = "usr/share/wallpapers/"
_O = "usr/share/doc/opencv-doc/examples/data/"
#: (package, name, path in the package, sha256 of the file)
PHOTOS = (
    ("mate-backgrounds", "Blinds", _M + "Blinds.jpg",
     "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
    ("mate-backgrounds", "Dune", _M + "Dune.jpg",
     "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
    ("mate-backgrounds", "FreshFlower", _M + "FreshFlower.jpg",
     "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
    ("mate-backgrounds", "Garden", _M + "Garden.jpg",
     "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
    ("mate-backgrounds", "GreenMeadow", _M + "GreenMeadow.jpg",
     "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
    ("mate-backgrounds", "LadyBird", _M + "LadyBird.jpg",
     "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
    ("mate-backgrounds", "RainDrops", _M + "RainDrops.jpg",
     "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
    ("mate-backgrounds", "TwoWings", _M + "TwoWings.jpg",
     "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
    ("mate-backgrounds", "Wood", _M + "Wood.jpg",
     "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
    ("mate-backgrounds", "YellowFlower", _M + "YellowFlower.jpg",
     "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"),
    ("plasma-workspace-wallpapers", "BytheWater", _P + "BytheWater/contents/images/2560x1600.jpg",
     "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f"),
    ("plasma-workspace-wallpapers", "ColorfulCups", _P + "ColorfulCups/contents/images/2560x1600.jpg",
     "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d"),
    ("plasma-workspace-wallpapers", "EveningGlow", _P + "EveningGlow/contents/images/2560x1600.jpg",
     "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a"),
    ("plasma-workspace-wallpapers", "FallenLeaf", _P + "FallenLeaf/contents/images/2560x1600.jpg",
     "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de"),
    ("plasma-workspace-wallpapers", "Grey", _P + "Grey/contents/images/2560x1600.jpg",
     "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed"),
    ("plasma-workspace-wallpapers", "OneStandsOut", _P + "OneStandsOut/contents/images/2560x1600.jpg",
     "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd"),
    ("plasma-workspace-wallpapers", "Path", _P + "Path/contents/images/2560x1600.jpg",
     "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8"),
    ("opencv-doc", "fruits", _O + "fruits.jpg",
     "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1"),
    ("opencv-doc", "baboon", _O + "baboon.jpg",
     "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f"),
    ("opencv-doc", "leuvenA", _O + "leuvenA.jpg",
     "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f"),
    ("opencv-doc", "squirrel_cls", _O + "squirrel_cls.jpg",
     "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b"),
    ("opencv-doc", "aloeL", _O + "aloeL.jpg",
     "cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee"),
    ("opencv-doc", "board", _O + "board.jpg",
     "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f"),
    ("opencv-doc", "orange", _O + "orange.jpg",
     "152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079"),
    ("opencv-doc", "messi5", _O + "messi5.jpg",
     "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
    ("opencv-doc", "building", _O + "building.jpg",
     "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07"),
    ("opencv-doc", "butterfly", _O + "butterfly.jpg",
     "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8"),
    ("opencv-doc", "apple", _O + "apple.jpg",
     "e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd"),
    ("opencv-doc", "aero1", _O + "aero1.jpg",
     "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef"),
    ("opencv-doc", "home", _O + "home.jpg",
     "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2"),
    ("opencv-doc", "chicky_512", _O + "chicky_512.png",
     "4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e"),
    ("opencv-doc", "graf1", _O + "graf1.png",
     "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5"),
)


def debian_photos_dir() -> Path:
    return cache_dir() / "train" / f"debian-photos-v{VERSION}"


def read_deb_members(deb: Path, members: set[str]) -> dict[str, bytes]:
    """The files ``members`` (paths without a leading ``./``) of a ``.deb``'s data archive, by path.

    A ``.deb`` is an ``ar`` archive whose ``data.tar[.xz|.gz|.bz2]`` member holds the installed tree; read here
    with the standard library alone (``data.tar.zst`` needs a Python with zstd in ``tarfile``).
    """
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise DataError(f"{deb}: not a Debian package (no ar header); delete it and fetch it again")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise DataError(f"{deb}: no data.tar member; delete it and fetch it again")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                raise DataError(f"{deb}: damaged ar header; delete it and fetch it again") from None
            if name.startswith("data.tar"):
                payload = f.read(size)
                break
            f.seek(size + (size & 1), io.SEEK_CUR)  # members are 2-byte aligned
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
            for info in tar:
                path = info.name[2:] if info.name.startswith("./") else info.name
                if path in members and info.isfile():
                    found[path] = tar.extractfile(info).read()  # type: ignore[union-attr]
                    if len(found) == len(members):
                        break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{deb}: cannot read its {name} ({exc}); delete it and fetch it again") from exc
    return found


def _deb_file_name(package: str, version: str) -> str:
    return f"{package}_{version.replace(':', '%3a')}_all.deb"  # how apt-get download names it


def _fetch_deb(package: str, version: str, deb_dir: Path | None, work: Path) -> Path:
    if deb_dir is not None:
        path = deb_dir / _deb_file_name(package, version)
        if not path.is_file():
            raise DataError(f"{path} is missing: put {package} {version} there "
                            f"(apt-get download {package}={version}) or leave photos_deb_dir unset")
        return path
    try:
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work, check=True,
                       capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise DataError(f"cannot fetch the training photos' package {package}: no apt-get here; download "
                        f"{_deb_file_name(package, version)} elsewhere and pass its folder as photos_deb_dir") from exc
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"apt-get download {package}={version} failed ({last[0]}); run 'apt-get update' or pass "
                        "a folder of the .deb files as photos_deb_dir") from exc
    path = work / _deb_file_name(package, version)
    if not path.is_file():
        raise DataError(f"apt-get download {package}={version} wrote no {path.name}; pass a folder of the .deb "
                        "files as photos_deb_dir")
    return path


def _resized(img: np.ndarray, long_side: int) -> np.ndarray | None:
    h, w = img.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1:  # no upscaling: it would add no detail
        return None
    return cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def prepare_debian_photos(force: bool = False, deb_dir: str | Path | None = None) -> Path:
    """Build the training photo folder in the cache unless an intact copy is there; returns the folder."""
    debs = Path(deb_dir) if deb_dir is not None else None

    def fill(tmp: Path) -> dict:
        work = tmp / ".debs"
        work.mkdir()
        files: dict[str, str] = {}
        for package, version in PACKAGES.items():
            deb = _fetch_deb(package, version, debs, work)
            wanted = {path: (name, digest) for pkg, name, path, digest in PHOTOS if pkg == package}
            data = read_deb_members(deb, set(wanted))
            for path, (name, digest) in wanted.items():
                if path not in data:
                    raise DataError(f"{deb}: has no {path}; is it {package} {version}?")
                if hashlib.sha256(data[path]).hexdigest() != digest:
                    raise DataError(f"{deb}: {path} differs from the pinned file; fetch {package} {version} again")
                img = cv2.imdecode(np.frombuffer(data[path], np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    raise DataError(f"{deb}: cannot decode {path}")
                for side in LONG_SIDES:
                    small = _resized(img, side)
                    if small is not None:
                        rel = f"{name}-{side}.png"
                        if not cv2.imwrite(str(tmp / rel), small):
                            raise DataError(f"cannot write {tmp / rel}: check the cache folder's space")
                        files[rel] = sha256_file(tmp / rel)
        shutil.rmtree(work)
        skimage = prepare_training_images()
        for rel in json.loads((skimage / "manifest.json").read_text())["files"]:
            shutil.copyfile(skimage / rel, tmp / rel)
            files[rel] = sha256_file(tmp / rel)
        return {"version": VERSION, "packages": PACKAGES, "files": files}

    return build_cached_folder(debian_photos_dir(), fill, force)
