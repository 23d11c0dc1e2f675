#!/usr/bin/env bash
# Table 3 of Carbajal et al. 2021 at CPU size, one command: DeblurGAN base (three stages: from the identity, then
# on leaves with textures and depth of field, then with natural photographs from Debian packages) -> resume
# control -> + reblur consistency with F = the shipped blurfield-small -> + reblur with F = the ground-truth field
# (upper bound). The three fine-tunes start from the same base checkpoint with the same steps, data stream and seeds (their configs differ
# only in the reblur term). Each generator is exported into blurbench/zoo/weights/NAME/ (model.safetensors +
# config.json with the recipe and command; the registry pins its sha256: update the pin in zoo/registry.py), then all are scored on the built-in `motion` val split (where choices are made) and on
# test (reporting only), with the paired differences of Table 3. Wall times of each fit are printed (and appended to runs/table3_cpu/times.txt).
#   bash scripts/table3_cpu.sh            # from anywhere; runs in the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/table3_cpu
mkdir -p "$out"

fit() {  # recipe name; its wall time is printed and kept
  local t0=$SECONDS
  blurbench fit --config "deblurgan/$1"
  echo "deblurgan/$1: $((SECONDS - t0)) s wall on $(nproc) cores" | tee -a "$out/times.txt"
}

fit_export() {  # recipe name, zoo name
  fit "$1"
  blurbench zoo export "runs/deblurgan/$1/checkpoints/last.ckpt" --out "blurbench/zoo/weights/$2" --name "$2" \
    --recipe "deblurgan/$1"
}

fit small_cpu  # stage 1 of the base (not shipped on its own)
fit small_cpu_stage2  # stage 2
fit_export small_cpu_stage3 deblurgan-small  # needs apt-get download, or --data.init_args.photos_deb_dir
fit_export small_cpu_resume deblurgan-small-resume
fit_export small_cpu_reblur deblurgan-small-reblur
fit_export small_cpu_reblur_gt deblurgan-small-reblur-gt

methods=identity,deblurgan-small,deblurgan-small-resume,deblurgan-small-reblur,deblurgan-small-reblur-gt
rm -rf "$out/val" "$out/test"  # fresh rows: the weights just changed
blurbench evaluate --methods "$methods" --datasets motion --split val --out "$out/val" --no-progress
blurbench evaluate --methods "$methods" --datasets motion --out "$out/test" --no-progress
# the Table-3 differences with 95% paired bootstrap intervals over the images (val: where choices are made)
pairs=deblurgan-small:identity,deblurgan-small-resume:deblurgan-small,deblurgan-small-reblur:deblurgan-small-resume
pairs=$pairs,deblurgan-small-reblur-gt:deblurgan-small-resume,deblurgan-small-reblur-gt:identity
blurbench leaderboard --from "$out/val" --compare "$pairs"
blurbench leaderboard --from "$out/test" --compare "$pairs"
