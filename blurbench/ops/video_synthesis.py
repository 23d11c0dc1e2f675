"""Synthetic blurry videos with ground truth (TPAMI 2017 §5) and an HFR renderer for one still photo.

Blur by frame averaging: a blurry frame is the mean of ``k`` consecutive sharp frames of a
high-frame-rate (HFR) sequence, its ground truth the middle one (``k`` odd); output frames start every
``stride`` HFR frames, so the duty cycle is ``τ = k·shutter / stride`` (``shutter`` = exposure of one HFR
frame in HFR frame intervals, 1 for a 360° shutter; the ``k`` samples are the midpoints of ``k`` equal
parts of the exposure). Options: a Gaussian blur σ ∈ {1, 1.5, 2} applied to every HFR frame before
averaging (Table 1), bi-layer scenes with per-layer translations whose blur spans 7–31 px and per-layer
defocus σ ∈ [0, 2.5] (Table 3).

:func:`render_hfr_sequence` makes the HFR sequence from ONE photograph: a camera moving smoothly
(translation + small rotation, with acceleration) over the photo and a foreground layer (an elliptic
cut-out of the photo or of a second image) moving with its own velocity and spin. Both motions are
analytic, so the ground-truth flows between output frames are exact: ``flow_fw[i] = flow_{i→i+1}``,
``flow_bw[i] = flow_{i→i−1}`` [T, 2, H, W] in pixels (x, y), ``L_i(x) ≈ L_{i+1}(x + flow_fw[i](x))``,
following the layer visible at ``x`` in frame ``i``; ``occ_fw``/``occ_bw`` flag pixels whose target is
hidden (covered by the foreground) or outside the frame. Images: [3, H, W] / [T, 3, H, W] float RGB in
[0, 1]; inputs may be HWC numpy arrays (uint8 or float, grey or RGB) such as ``skimage.data.astronaut()``.
All randomness comes from the ``numpy.random.Generator`` passed in (deterministic per generator state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from blurbench.ops.gaussian import gaussian_filter2d

__all__ = [
    "to_image_tensor", "gaussian_blur", "synthesize_blurry_video", "HFRScene", "render_hfr_sequence",
    "make_blurry_clip", "make_bilayer_clip",
]


def to_image_tensor(image, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                    ) -> torch.Tensor:
    """[3, H, W] float in [0, 1] from an HWC/HW numpy array (uint8 → /255) or a [C, H, W] / [H, W, C] tensor."""
    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.ndim == 2:
            t = t[None]
        if t.ndim == 3 and t.shape[0] not in (1, 3) and t.shape[-1] in (1, 3):
            t = t.permute(2, 0, 1)
        t = t.to(dtype=dtype)
        if not torch.is_floating_point(image):
            t = t / 255.0
    else:
        a = np.asarray(image)
        scale = 255.0 if a.dtype == np.uint8 else (65535.0 if a.dtype == np.uint16 else 1.0)
        a = a.astype(np.float32) / scale
        if a.ndim == 2:
            a = a[..., None]
        t = torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1).to(dtype)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return t.clamp(0, 1).contiguous().to(device) if device is not None else t.clamp(0, 1).contiguous()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Uniform Gaussian blur (sampled kernel, ±⌈3σ⌉ taps, replicated borders) of [N, C, H, W]."""
    return x.clone() if sigma <= 0 else gaussian_filter2d(x, sigma)


def _check_k(k: int) -> None:
    if k < 1 or k % 2 == 0:
        raise ValueError(f"k must be a positive odd number of averaged frames (the middle one is the GT), got {k}")


def synthesize_blurry_video(hfr: torch.Tensor, k: int, stride: int | None = None, shutter: float = 1.0,
                            gaussian_sigma: float | None = None, n_frames: int | None = None
                            ) -> dict[str, torch.Tensor | float]:
    """Average ``k`` consecutive HFR frames [N, C, H, W] every ``stride`` frames (default ``k``).

    Returns ``blurry`` and ``sharp`` (the middle frames) [T, C, H, W], ``tau = k·shutter/stride`` and
    ``centers`` [T] (HFR index of each ground-truth frame). ``gaussian_sigma`` blurs every HFR frame first.
    """
    _check_k(k)
    stride = k if stride is None else stride
    if stride < 1:
        raise ValueError("stride must be ≥ 1")
    t_max = (hfr.shape[0] - k) // stride + 1
    t = t_max if n_frames is None else min(n_frames, t_max)
    if t < 1:
        raise ValueError(f"need at least k={k} HFR frames, got {hfr.shape[0]}")
    src = gaussian_blur(hfr, gaussian_sigma) if gaussian_sigma else hfr
    starts = [i * stride for i in range(t)]
    blurry = torch.stack([src[s:s + k].mean(0) for s in starts])
    sharp = torch.stack([hfr[s + k // 2] for s in starts])
    centers = torch.tensor([s + k // 2 for s in starts])
    return {"blurry": blurry, "sharp": sharp, "tau": k * shutter / stride, "centers": centers}


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


@dataclass
class HFRScene:
    """Analytic two-layer scene; times ``s`` are in HFR frame units, coordinates in output pixels (x, y).

    Background: output pixel ``x`` at time ``s`` sees photo point ``C_s(x) = R(θ(s))(x − c) + c + t(s)``.
    Foreground: source point ``p`` (of ``fg_image``) is at ``F_s(p) = R(φ(s))(p − q0) + o(s)``; its alpha is
    a soft-edged ellipse of semi-axes ``axes`` around ``q0``. Polynomial motions:
    ``t(s) = t0 + v s + a s²/2``, ``θ(s) = θ0 + ω s``, ``o(s) = o0 + w s + b s²/2``, ``φ(s) = ψ s``.
    """

    background: torch.Tensor    # [3, Hb, Wb]
    fg_image: torch.Tensor | None  # [3, Hf, Wf]
    size: tuple[int, int]
    t0: np.ndarray
    v: np.ndarray
    a: np.ndarray
    theta0: float
    omega: float
    q0: np.ndarray
    axes: np.ndarray
    o0: np.ndarray
    w: np.ndarray
    b: np.ndarray
    psi: float

    @property
    def center(self) -> np.ndarray:
        """Output image centre ``c`` (x, y)."""
        return np.array([(self.size[1] - 1) / 2.0, (self.size[0] - 1) / 2.0])

    def _cam(self, s: float) -> tuple[np.ndarray, np.ndarray]:
        return _rot(self.theta0 + self.omega * s), self.t0 + self.v * s + 0.5 * self.a * s * s

    def _obj(self, s: float) -> tuple[np.ndarray, np.ndarray]:
        return _rot(self.psi * s), self.o0 + self.w * s + 0.5 * self.b * s * s

    def _grid(self, like: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        ys = torch.arange(h, dtype=torch.float64)
        xs = torch.arange(w, dtype=torch.float64)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack((gx, gy), -1).to(like.device)  # [H, W, 2] float64

    @staticmethod
    def _affine(p: torch.Tensor, r: np.ndarray, shift: np.ndarray) -> torch.Tensor:
        rt = torch.as_tensor(r, dtype=p.dtype, device=p.device)
        return p @ rt.T + torch.as_tensor(shift, dtype=p.dtype, device=p.device)

    def _bg_coords(self, p: torch.Tensor, s: float) -> torch.Tensor:
        r, t = self._cam(s)
        c = self.center
        return self._affine(p - torch.as_tensor(c, dtype=p.dtype, device=p.device), r, c + t)

    def _bg_inverse(self, q: torch.Tensor, s: float) -> torch.Tensor:
        r, t = self._cam(s)
        c = self.center
        return self._affine(q - torch.as_tensor(c + t, dtype=q.dtype, device=q.device), r.T, c)

    def _fg_source(self, p: torch.Tensor, s: float) -> torch.Tensor:
        r, o = self._obj(s)
        return self._affine(p - torch.as_tensor(o, dtype=p.dtype, device=p.device), r.T, self.q0)

    def _fg_forward(self, src: torch.Tensor, s: float) -> torch.Tensor:
        r, o = self._obj(s)
        return self._affine(src - torch.as_tensor(self.q0, dtype=src.dtype, device=src.device), r, o)

    def _alpha(self, src: torch.Tensor) -> torch.Tensor:
        d = (src - torch.as_tensor(self.q0, dtype=src.dtype, device=src.device)) / torch.as_tensor(
            self.axes, dtype=src.dtype, device=src.device)
        dist = (d.norm(dim=-1) - 1.0) * float(self.axes.min())  # ≈ signed distance in px
        return (0.5 - dist).clamp(0, 1)

    @staticmethod
    def _sample(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        hb, wb = img.shape[-2:]
        g = torch.stack((coords[..., 0] * 2 / (wb - 1) - 1, coords[..., 1] * 2 / (hb - 1) - 1), -1)
        return F.grid_sample(img[None], g[None].to(img.dtype), mode="bilinear", padding_mode="border",
                             align_corners=True)[0]

    def layers(self, s: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(background [3, H, W], foreground [3, H, W], alpha [1, H, W])`` at time ``s``."""
        p = self._grid(self.background)
        bg = self._sample(self.background, self._bg_coords(p, s))
        if self.fg_image is None:
            return bg, torch.zeros_like(bg), bg.new_zeros(1, *self.size)
        src = self._fg_source(p, s)
        fg = self._sample(self.fg_image, src)
        return bg, fg, self._alpha(src)[None].to(bg.dtype)

    def render(self, s: float) -> torch.Tensor:
        """Sharp frame [3, H, W] at time ``s``."""
        bg, fg, alpha = self.layers(s)
        return alpha * fg + (1 - alpha) * bg

    def flow(self, s_a: float, s_b: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Ground-truth flow ``a → b`` [2, H, W] (layer visible at ``x`` in ``a``) and its occlusion [1, H, W]."""
        p = self._grid(self.background)
        bg_flow = self._bg_inverse(self._bg_coords(p, s_a), s_b) - p
        if self.fg_image is None:
            flow = bg_flow
            on_fg = torch.zeros(self.size, dtype=torch.bool, device=p.device)
            covered = torch.zeros_like(on_fg)
        else:
            src_a = self._fg_source(p, s_a)
            fg_flow = self._fg_forward(src_a, s_b) - p
            on_fg = self._alpha(src_a) > 0.5
            flow = torch.where(on_fg[..., None], fg_flow, bg_flow)
            covered = self._alpha(self._fg_source(p + flow, s_b)) > 0.5
        target = p + flow
        h, w = self.size
        outside = (target[..., 0] < 0) | (target[..., 0] > w - 1) | (target[..., 1] < 0) | (target[..., 1] > h - 1)
        occ = outside | (~on_fg & covered)
        return flow.permute(2, 0, 1).to(self.background.dtype), occ[None]


def _fit_photo(img: torch.Tensor, min_side: float) -> torch.Tensor:
    """Rescale (antialiased) so that the short side is ``min_side`` px."""
    h, w = img.shape[-2:]
    scale = min_side / min(h, w)
    size = (max(2, round(h * scale)), max(2, round(w * scale)))
    return F.interpolate(img[None], size=size, mode="bilinear", align_corners=False,
                         antialias=scale < 1)[0].clamp(0, 1)


def _unit(rng: np.random.Generator) -> np.ndarray:
    ang = rng.uniform(0, 2 * math.pi)
    return np.array([math.cos(ang), math.sin(ang)])


def render_hfr_sequence(image, rng: np.random.Generator, n_frames: int = 5, k: int = 7, stride: int | None = None,
                        size: tuple[int, int] = (128, 128), foreground=None,
                        camera_speed: tuple[float, float] = (2.0, 6.0), object_speed: tuple[float, float] = (3.0, 9.0),
                        rotation_deg: float = 0.5, acceleration: float = 0.3,
                        object_size: tuple[float, float] = (0.2, 0.32),
                        with_object: bool = True, device: torch.device | str | None = None,
                        dtype: torch.dtype = torch.float32) -> dict:
    """Sharp HFR frames from one photo and the GT flows between the ``n_frames`` output (averaged) frames.

    Output frame ``i`` averages HFR frames ``i·stride … i·stride + k − 1`` (``stride`` defaults to ``k + 1``);
    its time is the middle one. Speeds are in output pixels per output-frame interval (drawn uniformly in
    the given ranges, random directions); ``acceleration`` is the relative change of the velocities over
    one interval (smoothly varying motion, so neighbouring frames blur differently); ``rotation_deg`` the
    largest camera rotation per interval. The foreground is an elliptic cut-out (semi-axes a fraction
    ``object_size`` of the short side) of ``foreground`` if given, else of another part of ``image``.

    Returns a dict: ``hfr`` [N, 3, H, W], ``centers`` [T] (HFR index of each output frame), ``flow_fw``,
    ``flow_bw`` [T, 2, H, W], ``occ_fw``, ``occ_bw`` [T, 1, H, W] (bool), ``alpha`` [T, 1, H, W]
    (foreground coverage of the GT frames), ``stride``, ``scene`` (:class:`HFRScene`).
    """
    _check_k(k)
    stride = k + 1 if stride is None else stride
    h, w = size
    photo = to_image_tensor(image, dtype=torch.float64)
    n_hfr = (n_frames - 1) * stride + k
    # camera motion (per HFR frame)
    cam_v = _unit(rng) * rng.uniform(*camera_speed) / stride
    cam_a = _unit(rng) * acceleration * np.linalg.norm(cam_v) / stride
    omega = math.radians(rng.uniform(-rotation_deg, rotation_deg)) / stride
    theta0 = float(rng.uniform(-0.05, 0.05))
    travel = np.linalg.norm(cam_v) * n_hfr + 0.5 * np.linalg.norm(cam_a) * n_hfr ** 2
    diag = math.hypot(h, w)
    bg = _fit_photo(photo, diag * 1.15 + 2 * travel + 8)
    hb, wb = bg.shape[-2:]
    s_mid = (n_hfr - 1) / 2.0
    view_center = np.array([(wb - 1) / 2.0, (hb - 1) / 2.0]) + rng.uniform(-0.1, 0.1, 2) * np.array([wb, hb]) * 0.3
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    t0 = view_center - c - (cam_v * s_mid + 0.5 * cam_a * s_mid ** 2)
    # foreground layer
    fg_img = None
    q0 = axes = o0 = obj_v = obj_a = np.zeros(2)
    psi = 0.0
    if with_object:
        short = min(h, w)
        axes = np.array([rng.uniform(*object_size), rng.uniform(*object_size)]) * short
        if foreground is not None:
            fg_img = _fit_photo(to_image_tensor(foreground, dtype=torch.float64), 2.4 * float(axes.max()) + 8)
            q0 = np.array([(fg_img.shape[-1] - 1) / 2.0, (fg_img.shape[-2] - 1) / 2.0])
        else:
            fg_img = bg
            # a cut-out from a part of the photo away from the view centre
            margin = axes.max() + 4
            for _ in range(20):
                q0 = np.array([rng.uniform(margin, wb - 1 - margin), rng.uniform(margin, hb - 1 - margin)])
                if np.linalg.norm(q0 - view_center) > 0.35 * min(h, w):
                    break
        obj_v = _unit(rng) * rng.uniform(*object_speed) / stride
        obj_a = _unit(rng) * acceleration * np.linalg.norm(obj_v) / stride
        psi = math.radians(rng.uniform(-2.0, 2.0)) / stride
        o_mid = c + rng.uniform(-0.2, 0.2, 2) * np.array([w, h])
        o0 = o_mid - (obj_v * s_mid + 0.5 * obj_a * s_mid ** 2)
    scene = HFRScene(bg, fg_img, (h, w), t0, cam_v, cam_a, theta0, omega, q0, axes, o0, obj_v, obj_a, psi)
    hfr = torch.stack([scene.render(float(s)) for s in range(n_hfr)])
    centers = [i * stride + k // 2 for i in range(n_frames)]
    fw, bw, ofw, obw, alpha = [], [], [], [], []
    for s in centers:
        f, o = scene.flow(s, s + stride)
        fw.append(f)
        ofw.append(o)
        f, o = scene.flow(s, s - stride)
        bw.append(f)
        obw.append(o)
        alpha.append(scene.layers(float(s))[2])
    out = {"hfr": hfr, "centers": torch.tensor(centers), "flow_fw": torch.stack(fw), "flow_bw": torch.stack(bw),
           "occ_fw": torch.stack(ofw), "occ_bw": torch.stack(obw), "alpha": torch.stack(alpha),
           "stride": stride, "scene": scene}
    for key in ("hfr", "flow_fw", "flow_bw", "alpha"):
        out[key] = out[key].to(device=device, dtype=dtype)
    for key in ("occ_fw", "occ_bw"):
        out[key] = out[key].to(device=device)
    return out


def _finish(blurry: torch.Tensor, rng: np.random.Generator, noise_std: float, quantize: bool) -> torch.Tensor:
    if noise_std > 0:
        noise = torch.from_numpy(rng.standard_normal(tuple(blurry.shape))).to(blurry)
        blurry = blurry + noise_std * noise
    blurry = blurry.clamp(0, 1)
    return torch.round(blurry * 255) / 255 if quantize else blurry


def make_blurry_clip(image, rng: np.random.Generator, n_frames: int = 5, k: int = 7,
                     size: tuple[int, int] = (128, 128), stride: int | None = None, shutter: float = 1.0,
                     gaussian_sigma: float | None = None, noise_std: float = 0.0, quantize: bool = True,
                     foreground=None, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                     **motion) -> dict:
    """A blurry clip with ground truth from one photo (deterministic per ``rng`` state).

    ``k`` HFR frames are averaged per output frame, one output frame every ``stride`` HFR frames (default
    ``k + 1``), so ``tau = k·shutter/stride``; ``gaussian_sigma`` blurs the HFR frames first (Table 1
    defocus); ``noise_std`` adds Gaussian noise, ``quantize`` rounds to 8 bits. ``motion`` goes to
    :func:`render_hfr_sequence` (camera_speed, object_speed, rotation_deg, acceleration, object_size,
    with_object).

    Returns ``blurry``, ``sharp`` [T, 3, H, W], ``flow_fw``, ``flow_bw`` [T, 2, H, W] (GT, px, between the
    sharp frames), ``occ_fw``, ``occ_bw`` [T, 1, H, W], ``alpha`` [T, 1, H, W] and ``tau`` (float).
    """
    seq = render_hfr_sequence(image, rng, n_frames=n_frames, k=k, stride=stride, size=size, foreground=foreground,
                              device=device, dtype=dtype, **motion)
    syn = synthesize_blurry_video(seq["hfr"], k, seq["stride"], shutter, gaussian_sigma, n_frames=n_frames)
    return {"blurry": _finish(syn["blurry"], rng, noise_std, quantize), "sharp": syn["sharp"],
            "flow_fw": seq["flow_fw"], "flow_bw": seq["flow_bw"], "occ_fw": seq["occ_fw"],
            "occ_bw": seq["occ_bw"], "alpha": seq["alpha"], "tau": float(syn["tau"])}


def make_bilayer_clip(image, rng: np.random.Generator, n_frames: int = 5, k: int = 7,
                      size: tuple[int, int] = (128, 128), stride: int | None = None,
                      blur_length: tuple[float, float] = (7.0, 31.0), sigma_range: tuple[float, float] = (0.0, 2.5),
                      foreground=None, noise_std: float = 0.0, quantize: bool = True,
                      device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> dict:
    """Bi-layer scene of Table 3: each layer translates (no rotation) so that its blur spans a length drawn in
    ``blur_length`` px over the exposure, and is defocused with its own σ drawn in ``sigma_range``.

    The foreground's silhouette is defocused with it: ``G_f(α·F) + (1 − G_f(α))·G_b(B)`` per HFR frame.
    Returns the keys of :func:`make_blurry_clip` plus ``sigma`` [T, 1, H, W] (σ of the visible layer),
    ``sigmas`` (σ_background, σ_foreground) and ``blur_lengths``.
    """
    _check_k(k)
    stride = k + 1 if stride is None else stride
    tau = k / stride
    len_bg, len_fg = rng.uniform(*blur_length), rng.uniform(*blur_length)
    sig_bg, sig_fg = rng.uniform(*sigma_range), rng.uniform(*sigma_range)
    # per-interval speed so that τ·|u| equals the blur length
    seq = render_hfr_sequence(image, rng, n_frames=n_frames, k=k, stride=stride, size=size, foreground=foreground,
                              camera_speed=(len_bg / tau, len_bg / tau), object_speed=(len_fg / tau, len_fg / tau),
                              rotation_deg=0.0, acceleration=0.0, device=None, dtype=torch.float64)
    scene: HFRScene = seq["scene"]
    scene.psi = 0.0
    scene.theta0 = 0.0
    frames = []
    for s in range(seq["hfr"].shape[0]):
        bg, fg, alpha = scene.layers(float(s))
        gb = gaussian_blur(bg[None], sig_bg)[0]
        ga = gaussian_blur(alpha[None], sig_fg)[0]
        gf = gaussian_blur((alpha * fg)[None], sig_fg)[0]
        frames.append(gf + (1 - ga) * gb)
    hfr = torch.stack(frames)
    syn = synthesize_blurry_video(hfr, k, stride, 1.0, None, n_frames=n_frames)
    sharp = torch.stack([scene.render(float(c)) for c in seq["centers"].tolist()])
    flows = [scene.flow(float(c), float(c) + stride) for c in seq["centers"].tolist()]
    flows_b = [scene.flow(float(c), float(c) - stride) for c in seq["centers"].tolist()]
    alpha = torch.stack([scene.layers(float(c))[2] for c in seq["centers"].tolist()])
    sigma = torch.where(alpha > 0.5, torch.full_like(alpha, sig_fg), torch.full_like(alpha, sig_bg))
    conv = lambda x: x.to(device=device, dtype=dtype)  # noqa: E731
    return {"blurry": conv(_finish(syn["blurry"], rng, noise_std, quantize)), "sharp": conv(sharp),
            "flow_fw": conv(torch.stack([f for f, _ in flows])), "flow_bw": conv(torch.stack([f for f, _ in flows_b])),
            "occ_fw": torch.stack([o for _, o in flows]).to(device),
            "occ_bw": torch.stack([o for _, o in flows_b]).to(device),
            "alpha": conv(alpha), "sigma": conv(sigma), "tau": float(tau), "sigmas": (float(sig_bg), float(sig_fg)),
            "blur_lengths": (float(len_bg), float(len_fg))}
