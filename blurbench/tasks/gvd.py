"""Video deblurring as an evaluation method: GVD (Kim & Lee 2015; Kim, Nah, Lee TPAMI 2017) and the blurry input.

A sample is either a whole clip (built-in suite: every frame is scored, one row per frame, id
``<clip>/<frame>``) or a sliding window with a ``centre`` index (on-disk datasets: the centre frame is
scored with the dataset's protocol). With ground-truth flows the rows also carry ``epe`` (end-point error
of the solver's forward flows) and ``epe_init`` (of its initial classical estimate), so the leaderboard
shows whether the joint energy improved the flow.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from blurbench.errors import ConfigError
from blurbench.io import atomic_write_json, write_image
from blurbench.metrics.image import psnr, ssim
from blurbench.metrics.protocols import epe
from blurbench.ops.flow_vis import flow_to_color
from blurbench.ops.gvd.flow import initial_flows
from blurbench.ops.gvd.solver import GVDConfig, deblur_video
from blurbench.tasks.base import EvaluationTask, _sync


class VideoDeblurTask(EvaluationTask):
    """Base for video methods: :meth:`restore_clip` maps frames [T, 3, H, W] to (latent, aux)."""

    task = "video-deblurring"
    data_kind = "video"

    def restore_clip(self, frames: torch.Tensor, tau: float | None) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        rows = []
        for i, item_id in enumerate(batch["id"]):
            frames = batch["blurry"][i]
            tau = float(batch["tau"][i].reshape(-1)[0]) if "tau" in batch else None
            _sync(self.device)
            start = time.perf_counter()
            with torch.inference_mode():
                latent, aux = self.restore_clip(frames, tau)
            _sync(self.device)
            seconds = time.perf_counter() - start
            latent = latent.clamp(0, 1)
            if "centre" in batch:  # a window of an on-disk dataset: its centre frame, the dataset's protocol
                sub = {k: (v[i:i + 1] if isinstance(v, torch.Tensor) else v[i:i + 1]) for k, v in batch.items()}
                metrics = self.trainer.datamodule.score(latent[None], sub)[0]
                rows.append({"id": item_id, "metrics": metrics, "seconds": seconds})
                continue
            sharp = batch["sharp"][i]
            p, s = psnr(latent, sharp), ssim(latent, sharp)
            t = frames.shape[0]
            flow_err = flow_err_init = None
            if "flow_fw" in batch and "flow_fw" in aux:
                gt = batch["flow_fw"][i][: t - 1]
                flow_err = epe(aux["flow_fw"][: t - 1], gt)
                flow_err_init = epe(aux["flow_fw_init"][: t - 1], gt) if "flow_fw_init" in aux else None
            for f in range(t):
                m = {"psnr": float(p[f]), "ssim": float(s[f])}
                if flow_err is not None and f < t - 1:
                    m["epe"] = float(flow_err[f])
                    if flow_err_init is not None:
                        m["epe_init"] = float(flow_err_init[f])
                rows.append({"id": f"{item_id}/{f:03d}", "metrics": m, "seconds": seconds / t})
        return rows

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        with torch.inference_mode():
            latent, aux = self.restore_clip(batch["blurry"][0], None)
        return {"id": batch["id"][0], "names": batch["names"], "latent": latent.clamp(0, 1), "aux": aux}

    def write_prediction(self, output_dir: Path, prediction: dict[str, Any]) -> None:
        names = prediction["names"]
        if names and isinstance(names[0], (list, tuple)):  # collated: one list of names per clip in the batch
            names = names[0]
        for name, frame in zip(names, prediction["latent"]):
            write_image(Path(output_dir) / name, frame)
        aux = prediction["aux"]
        if "tau" in aux:  # the duty cycle the frames were restored with: record it beside them (it was
            # estimated unless the method was given one), so a run can be repeated or questioned
            scores = aux.get("tau_scores")
            atomic_write_json(Path(output_dir) / "duty_cycle.json", {
                "tau": [round(float(t), 6) for t in aux["tau"]], "estimated": scores is not None,
                "scores": None if scores is None else {f"{k:g}": v for k, v in scores.items()}})
        if getattr(self, "save_aux", False):
            scale = float(aux["flow_fw"].norm(dim=1).max().clamp_min(1e-6)) if "flow_fw" in aux else 1.0
            for t, name in enumerate(names):
                stem = Path(name).with_suffix("")
                if "flow_fw" in aux:
                    write_image(Path(output_dir) / "flow_fw" / f"{stem}.png", flow_to_color(aux["flow_fw"][t], scale))
                    write_image(Path(output_dir) / "flow_bw" / f"{stem}.png", flow_to_color(aux["flow_bw"][t], scale))
                if "sigma" in aux:
                    sig = (aux["sigma"][t] / 2.5).clamp(0, 1).expand(3, -1, -1)
                    write_image(Path(output_dir) / "sigma" / f"{stem}.png", sig)


class VideoIdentity(VideoDeblurTask):
    """The blurry frames themselves."""

    def restore_clip(self, frames, tau):
        return frames, {}


class GVDDeblur(VideoDeblurTask):
    """GVD video deblurring (``blurbench.ops.gvd``): joint latent frames, bidirectional flows, defocus maps.

    Args:
        defocus: estimate spatially varying defocus σ(x) (TPAMI 2017); False is the CVPR 2015 GVD.
        temporal: keep the temporal coherence term (eq. 5); False is the ablation.
        window: frames per sliding window.
        use_gt_tau: use the dataset's duty cycle when it has one (else estimated).
        tau: the camera's duty cycle when known (exposure time × frame rate, in (0, 1]): used for every clip,
            before the dataset's; None estimates it (:func:`~blurbench.ops.gvd.solver.estimate_duty_cycle`)
            where the data has none (``blurbench predict`` on your frames).
        save_aux: with ``blurbench predict``, also write colour-coded flows and σ maps.
        overrides: any other :class:`~blurbench.ops.gvd.solver.GVDConfig` field.
    """

    def __init__(self, defocus: bool = True, temporal: bool = True, window: int = 5, use_gt_tau: bool = True,
                 save_aux: bool = False, overrides: dict[str, Any] | None = None, tau: float | None = None) -> None:
        super().__init__()
        if tau is not None and not 0.0 < tau <= 1.0:
            raise ConfigError(f"GVD: tau={tau} is not a duty cycle", "give exposure time × frame rate, in (0, 1]")
        self.save_hyperparameters()
        self.config = replace(GVDConfig(), defocus=defocus, temporal=temporal, **(overrides or {}))
        self.window, self.use_gt_tau, self.save_aux, self.tau = window, use_gt_tau, save_aux, tau

    def restore_clip(self, frames, tau):
        tau = self.tau if self.tau is not None else (tau if self.use_gt_tau else None)
        latent, aux = deblur_video(frames, self.config, tau=tau, window=self.window, return_aux=True)
        # the solver starts from these classical flows; recomputing them here is cheap (DIS) and deterministic
        aux["flow_fw_init"] = initial_flows(frames, self.config.init_flow, self.config.dis_preset)[0]
        return latent, aux
