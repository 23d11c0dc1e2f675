"""Optical-flow colour coding (the Middlebury colour wheel of Baker et al. 2011), pure torch."""

from __future__ import annotations

import torch


def _colour_wheel() -> torch.Tensor:
    """[55, 3] RGB in [0, 1]: red→yellow→green→cyan→blue→magenta→red in 15/6/4/11/13/6 steps."""
    ry, yg, gc, cb, bm, mr = 15, 6, 4, 11, 13, 6
    segments = []
    for n, start, end in ((ry, (1, 0, 0), (1, 1, 0)), (yg, (1, 1, 0), (0, 1, 0)), (gc, (0, 1, 0), (0, 1, 1)),
                          (cb, (0, 1, 1), (0, 0, 1)), (bm, (0, 0, 1), (1, 0, 1)), (mr, (1, 0, 1), (1, 0, 0))):
        t = torch.arange(n, dtype=torch.float64)[:, None] / n
        segments.append(torch.tensor(start, dtype=torch.float64) * (1 - t) + torch.tensor(end, dtype=torch.float64) * t)
    return torch.cat(segments).float()


def flow_to_color(flow: torch.Tensor, max_magnitude: float | None = None) -> torch.Tensor:
    """Flow [2, H, W] (x, y in pixels) → RGB [3, H, W] in [0, 1]: hue = direction, saturation = magnitude.

    ``max_magnitude`` normalises the magnitude (default: the largest in this flow), so colours are
    comparable across frames only when it is fixed.
    """
    u, v = flow[0].float(), flow[1].float()
    mag = torch.sqrt(u * u + v * v)
    scale = max_magnitude if max_magnitude is not None else float(mag.max().clamp_min(1e-6))
    wheel = _colour_wheel().to(flow.device)
    ncols = wheel.shape[0]
    angle = torch.atan2(-v, -u) / torch.pi  # [-1, 1]
    fk = (angle + 1) / 2 * (ncols - 1)
    k0 = fk.floor().long().clamp(0, ncols - 1)
    k1 = (k0 + 1) % ncols
    f = (fk - k0.float())[None]
    col = wheel[k0].permute(2, 0, 1) * (1 - f) + wheel[k1].permute(2, 0, 1) * f
    rad = (mag / scale).clamp(max=1)[None]
    return (1 - rad * (1 - col)).clamp(0, 1)
