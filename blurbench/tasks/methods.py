"""Every evaluation method blurbench ships, registered explicitly (no folder scanning)."""

from __future__ import annotations

from blurbench.tasks.nonblind import Identity, OracleFieldDeconvolution
from blurbench.tasks.registry import MethodSpec, register_method

register_method(MethodSpec(
    "identity", "deblurring", "image", Identity, "the blurry input, unchanged",
))
register_method(MethodSpec(
    "rl-oracle", "deblurring", "image", OracleFieldDeconvolution,
    "spatially varying Richardson-Lucy with the ground-truth field, 30 iterations",
    config={"solver": "richardson_lucy", "iterations": 30}, uses_gt_field=True,
))
register_method(MethodSpec(
    "tv-oracle", "deblurring", "image", OracleFieldDeconvolution,
    "TV-regularised deconvolution (primal-dual) with the ground-truth field",
    config={"solver": "tv", "iterations": 150, "tv_weight": 0.003}, uses_gt_field=True,
))
