"""Spatially varying Gaussian defocus ``G(σ(x))`` (TPAMI 2017 eq. 2) with its exact adjoint.

``(G x)(p) = Σ_d w_d(σ(p)) · x(p + d)`` — the kernel at output pixel ``p`` is a Gaussian of standard
deviation ``σ(p)`` pixels (gather form). The weights are the *pixel-integrated* Gaussian,
``w_k(σ) = Φ((k+½)/σ) − Φ((k−½)/σ)`` per axis (separable per output pixel), truncated at
``|k| ≤ r = ⌈3·σ_max⌉`` and renormalised; unlike the point-sampled Gaussian this is smooth in ``σ`` down
to ``σ = 0`` (the identity), so the σ sub-solver can linearise it. Borders replicate (clamped
coordinates). Shapes: ``x`` [T, C, H, W], ``sigma`` [T, 1, H, W] in pixels, on ``x``'s device/dtype.
:class:`DefocusBlur` is ``G(σ)`` as a :class:`~blurbench.ops.linear_operator.LinearOperator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from blurbench.ops.linear_operator import LinearOperator

__all__ = ["DefocusBlur", "defocus_radius", "defocus_weights", "defocus_blur", "defocus_blur_adjoint",
           "defocus_blur_dsigma"]

_SQRT2 = math.sqrt(2.0)
_MIN_SIGMA = 1e-4


def defocus_radius(sigma_max: float) -> int:
    """Half-width ``⌈3·σ_max⌉`` of the support (0 = identity)."""
    return max(0, math.ceil(3.0 * float(sigma_max) - 1e-9))


def _phi(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(z / _SQRT2))


def _pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def defocus_weights(sigma: torch.Tensor, radius: int, derivative: bool = False
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Normalised 1-D weights ``ŵ_k`` for ``k = 0..r`` (``ŵ_{−k} = ŵ_k``) and optionally ``∂ŵ_k/∂σ``."""
    s = sigma.clamp_min(_MIN_SIGMA)
    edge = (radius + 0.5) / s
    z = torch.erf(edge / _SQRT2)  # total mass in [−r−½, r+½]
    raw, draw = [], []
    for k in range(radius + 1):
        hi, lo = (k + 0.5) / s, (k - 0.5) / s
        raw.append(_phi(hi) - _phi(lo))
        if derivative:
            draw.append(-((k + 0.5) * _pdf(hi) - (k - 0.5) * _pdf(lo)) / (s * s))
    w = [r / z for r in raw]
    if not derivative:
        return w, None
    dz = -2.0 * (radius + 0.5) * _pdf(edge) / (s * s)
    dw = [(d - wk * dz) / z for d, wk in zip(draw, w)]
    return w, dw


def _pad(x: torch.Tensor, r: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (r, r, r, r), mode="replicate") if r else x


def _pad_adjoint(xp: torch.Tensor, r: int) -> torch.Tensor:
    """Adjoint of replicate padding: fold the border bands back onto the first/last row and column."""
    if r == 0:
        return xp
    out = xp[..., r:-r, :].clone()
    out[..., 0, :] += xp[..., :r, :].sum(dim=-2)
    out[..., -1, :] += xp[..., -r:, :].sum(dim=-2)
    res = out[..., :, r:-r].clone()
    res[..., :, 0] += out[..., :, :r].sum(dim=-1)
    res[..., :, -1] += out[..., :, -r:].sum(dim=-1)
    return res


def _radius(sigma: torch.Tensor, radius: int | None) -> int:
    return defocus_radius(float(sigma.max())) if radius is None else radius


#: a weight map of the tap ``(±a, ±b)`` on output rows ``rows``: ``weight(a, b, rows)`` -> [T, 1, len(rows), W]
Weight = Callable[[int, int, slice], torch.Tensor]

#: values (channels × rows × columns of one image) per row band of :func:`_gather` / :func:`_scatter`: the
#: ``(r+1)(2r+3)`` passes over a band run on data in cache (same per-pixel operations in the same order: bit for
#: bit the same result as one band)
BAND_VALUES = 1 << 18


def _pair_weights(wy: list[torch.Tensor], wx: list[torch.Tensor]) -> Weight:
    """``w[a][b] = wy[a]·wx[b]`` per pixel (shared by the 1–4 taps ``(±a, ±b)``), formed band by band when used
    (the ``(r+1)²`` maps are never all held: 1.5 GB for a 720p window at σ = 2.5)."""
    return lambda a, b, rows: wy[a][..., rows, :] * wx[b][..., rows, :]


def _bands(x: torch.Tensor) -> list[tuple[int, int]]:
    """Row bands ``(y0, y1)`` of an image batch x [N, C, H, W] for :data:`BAND_VALUES` values per band."""
    h, w = x.shape[-2:]
    per_row = max(1, x[0].numel() // h)
    # one band on a GPU: it gains nothing from cache-sized bands and would pay a kernel launch per band and pass
    banded = x.device.type == "cpu" and x.shape[0] * x[0].numel() > 4 * BAND_VALUES
    rows = max(1, BAND_VALUES // per_row) if banded else h
    return [(y0, min(h, y0 + rows)) for y0 in range(0, h, rows)]


def _gather(x: torch.Tensor, weight: Weight, r: int) -> torch.Tensor:
    """``Σ_{|dy|,|dx| ≤ r} w[|dy|][|dx|](p) · x(p + d)`` on the replicate-padded image.

    The weight of a tap depends on ``(|dy|, |dx|)`` and the output pixel only, so the taps ``±b`` of a row are
    summed first (one pass per ``b``) and each ``(a, b)`` costs two fused multiply-adds instead of the four of
    the tap-by-tap loop: ``(r+1)(2r+3)`` passes over the image instead of ``2(2r+1)²`` (same sum, reordered).
    Output rows go in bands (:func:`_bands`), each band through all the passes.
    """
    h, wd = x.shape[-2:]
    xp = _pad(x, r)
    out = torch.zeros_like(x)
    for y0, y1 in _bands(x):
        n = y1 - y0
        rs = slice(y0, y1)
        ob = out[..., rs, :]
        band = xp[..., y0:y1 + 2 * r, :]  # the padded rows the band's taps reach
        cols = torch.empty(*x.shape[:-2], n + 2 * r, wd, device=x.device, dtype=x.dtype)
        for b in range(r + 1):
            if b:
                torch.add(band[..., r + b:r + b + wd], band[..., r - b:r - b + wd], out=cols)
            else:
                cols.copy_(band[..., r:r + wd])
            for a in range(r + 1):
                wab = weight(a, b, rs)
                ob.addcmul_(wab, cols[..., r + a:r + a + n, :])
                if a:
                    ob.addcmul_(wab, cols[..., r - a:r - a + n, :])
    return out


def _scatter(v: torch.Tensor, weight: Weight, r: int) -> torch.Tensor:
    """Exact adjoint of :func:`_gather` (same weights, same padding), in bands of the padded output's rows."""
    h, wd = v.shape[-2:]
    acc = v.new_zeros(*v.shape[:-2], h + 2 * r, wd + 2 * r)
    for y0, y1 in _bands(acc):
        n = y1 - y0
        rows = torch.zeros(*v.shape[:-2], n, wd, device=v.device, dtype=v.dtype)
        for b in range(r + 1):
            if b:
                rows.zero_()
            for a in range(r + 1):
                for shift in ((a, -a) if a else (0,)):
                    # padded row Y receives input row Y − r − shift: the band's part of rows[r+shift : r+shift+h]
                    s0, s1 = max(y0, r + shift), min(y1, r + shift + h)
                    if s1 > s0:
                        src = slice(s0 - r - shift, s1 - r - shift)
                        rows[..., s0 - y0:s1 - y0, :].addcmul_(weight(a, b, src), v[..., src, :])
            ab = acc[..., y0:y1, :]
            ab[..., r + b:r + b + wd] += rows
            if b:
                ab[..., r - b:r - b + wd] += rows
    return _pad_adjoint(acc, r)


def defocus_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """``G(σ) x``; ``radius`` defaults to ``⌈3·max σ⌉``."""
    r = _radius(sigma, radius)
    if r == 0:
        return x.clone()
    w, _ = defocus_weights(sigma, r)
    return _gather(x, _pair_weights(w, w), r)


def defocus_blur_adjoint(v: torch.Tensor, sigma: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """``G(σ)ᵀ v``, the exact adjoint of :func:`defocus_blur` with the same ``radius``."""
    r = _radius(sigma, radius)
    if r == 0:
        return v.clone()
    w, _ = defocus_weights(sigma, r)
    return _scatter(v, _pair_weights(w, w), r)


def defocus_blur_dsigma(x: torch.Tensor, sigma: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """``∂(G(σ) x)(p)/∂σ(p)`` — the per-pixel derivative of the blurred image w.r.t. its own σ."""
    r = _radius(sigma, radius)
    if r == 0:
        return torch.zeros_like(x)
    w, dw = defocus_weights(sigma, r, derivative=True)

    def pair(a: int, b: int, rows: slice) -> torch.Tensor:
        return dw[a][..., rows, :] * w[b][..., rows, :] + w[a][..., rows, :] * dw[b][..., rows, :]

    return _gather(x, pair, r)


class DefocusBlur(LinearOperator):
    """``G(σ)`` for fixed defocus maps ``sigma`` [T, 1, H, W] (px); ``radius`` defaults to ``⌈3·max σ⌉``."""

    def __init__(self, sigma: torch.Tensor, radius: int | None = None) -> None:
        self.sigma, self.radius = sigma, _radius(sigma, radius)
        self._w: list[torch.Tensor] | None = None  # 1-D weights per pixel, computed at the first product

    def _axis_weights(self) -> list[torch.Tensor]:
        if self._w is None:  # σ is fixed: the solvers apply the same G tens of times
            self._w, _ = defocus_weights(self.sigma, self.radius)
        return self._w

    def _weights(self) -> Weight:
        w = self._axis_weights()
        return _pair_weights(w, w)

    def frame(self, f: int) -> DefocusBlur:
        """``G`` of frame ``f`` (shares this operator's weights)."""
        op = DefocusBlur(self.sigma[f:f + 1], self.radius)
        if self.radius:
            op._w = [m[f:f + 1] for m in self._axis_weights()]
        return op

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone() if self.radius == 0 else _gather(x, self._weights(), self.radius)

    def A_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        return v.clone() if self.radius == 0 else _scatter(v, self._weights(), self.radius)
