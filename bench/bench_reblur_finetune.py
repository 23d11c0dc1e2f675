"""Training throughput of ReblurFinetune against plain resume training, measured in the same run.

Both tasks use the CPU recipe's networks (generator ngf 16 / 6 blocks, PatchGAN ndf 16, WGAN-GP with 5 critic
steps, 100·L1) on the same fixed batches; ``reblur`` adds F = blurfield_small (untrained weights: same cost as
the shipped ones) and the reblur loss; ``reblur+cache`` reads F(v) from a warm on-disk field cache.

    python bench/bench_reblur_finetune.py [--steps 6] [--batch 4] [--crop 96] [--threads 1]

Prints images/s per variant and the ratio to resume training (1.00 = free).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from blurbench.tasks.deblurgan import DeblurGANTraining
from blurbench.tasks.reblur_finetune import ReblurFinetune

NETS = {"generator_args": {"ngf": 16, "n_blocks": 6}, "critic_args": {"ndf": 16, "n_layers": 3}, "content": "l1"}


def fit_seconds(module: L.LightningModule, loader: DataLoader, steps: int) -> float:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.batch * args.steps
    k = 33
    side = args.crop + k - 1
    samples = [{"blurry": torch.rand(3, args.crop, args.crop), "sharp": torch.rand(3, side, side), "id": f"s{i}"}
               for i in range(n)]
    loader = DataLoader(samples, batch_size=args.batch, shuffle=False)
    with tempfile.TemporaryDirectory() as tmp:
        gen = Path(tmp) / "gen.safetensors"
        save_file(DeblurGANTraining(**NETS).generator.state_dict(), str(gen))
        variants = {
            "resume": lambda: ReblurFinetune(**NETS, init_from=str(gen), reblur_weight=0.0),
            "reblur": lambda: ReblurFinetune(**NETS, init_from=str(gen), blurfield="random", reblur_weight=1000.0),
            "reblur+cache": lambda: ReblurFinetune(**NETS, init_from=str(gen), blurfield="random",
                                                   reblur_weight=1000.0, field_cache=str(Path(tmp) / "fields")),
        }
        fit_seconds(variants["resume"](), loader, 1)  # warm-up (allocator, first-call overheads)
        warm = variants["reblur+cache"]()
        fit_seconds(warm, loader, args.steps)  # fills the field cache for the cached variant
        times = {}
        for name, make in variants.items():
            times[name] = fit_seconds(make(), loader, args.steps)
    base = times["resume"]
    print(f"batch {args.batch} x {args.crop}px, {args.steps} steps, {args.threads} thread(s); "
          "generator ngf16/6 blocks, critic ndf16, 5 WGAN-GP critic steps")
    for name, sec in times.items():
        print(f"{name:>13}: {n / sec:6.2f} images/s   time ratio vs resume {sec / base:5.2f}")


if __name__ == "__main__":
    main()
