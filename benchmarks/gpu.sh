#!/usr/bin/env bash
# The GPU checks in one go, for a lent CUDA machine (CI never has one):
#   1. the `gpu`-marked tests (bf16/fp16 autocast on CUDA, reversible = plain on the device);
#   2. the encoder benchmark on CUDA under bf16 autocast: 16k against the peers, then 64k,
#      256k and 1,048,576 tokens (one training step each, peak GPU memory);
#   3. the same at the training load (issue 22): every system at one batch per length, sized
#      from the batch-1 peaks of encoders_gpu.json to fill about half of a 139 GiB H200
#      (16k x 32: genolong LSH ~41 GB, HF Longformer ~94 GB; 64k x 8: ~39 / ~54 GB HF Reformer);
#   4. only with GPU_TRAIN_S > 0: the E. coli recipe with trainer=gpu (bounded by
#      GPU_TRAIN_MAX_TIME), its best checkpoint and metrics kept for `benchmarks/quality.py
#      --checkpoint` on a CPU machine.
# Stages 1-3 take about 6 minutes, inside one 8-minute device run with room to run it again.
# Usage: OUT=<dir> bash benchmarks/gpu.sh. Python packages missing there can be laid out in
# .whl/ (wheels, plus pure-Python package folders in .whl/site/). Each stage has its own time
# bound and the next one runs whatever happened, so one failure does not hide the others.
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TRANSFORMERS_OFFLINE=1 GENOLONG_ROOT=$PWD
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && cp -r .whl/site/* /tmp/site/
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

echo "== 1. gpu tests"
timeout "${GPU_TESTS_S:-80}" python3 -m pytest -m gpu tests/models -q -p no:cacheprovider \
  > "$OUT/gpu_tests.log" 2>&1
echo "rc=$?" >> "$OUT/gpu_tests.log"
tail -4 "$OUT/gpu_tests.log"

echo "== 2. encoder benchmark (CUDA, bf16)"
timeout "${GPU_BENCH_S:-150}" python3 benchmarks/encoders.py --device cuda --envs default \
  --lengths 1048576,16384,65536,262144 --steps 3 --long-from 100000000 --timeout 40 \
  --systems genolong-lsh,genolong-sliding,lucidrains-reformer,hf-reformer,hf-longformer \
  --systems-at "65536:genolong-lsh,hf-reformer;262144:genolong-lsh;1048576:genolong-lsh,genolong-sliding" \
  --json "$OUT/encoders_gpu.json" > "$OUT/encoders_gpu.log" 2>&1
echo "rc=$?" >> "$OUT/encoders_gpu.log"
tail -30 "$OUT/encoders_gpu.log"

echo "== 3. encoder benchmark at the training load (CUDA, bf16)"
timeout "${GPU_LOAD_S:-150}" python3 benchmarks/encoders.py --device cuda --envs default \
  --lengths 16384,65536 --batches "16384:32;65536:8" --steps 2 --long-from 100000000 --timeout 25 \
  --systems genolong-lsh,genolong-sliding,lucidrains-reformer,hf-reformer,hf-longformer --systems-at "" \
  --json "$OUT/encoders_gpu_load.json" > "$OUT/encoders_gpu_load.log" 2>&1
echo "rc=$?" >> "$OUT/encoders_gpu_load.log"
tail -14 "$OUT/encoders_gpu_load.log"

if [ "${GPU_TRAIN_S:-0}" -le 0 ]; then ls -la "$OUT"; exit 0; fi
echo "== 4. E. coli recipe, trainer=gpu"
run=/tmp/gpu_ecoli
start=$(date +%s)
timeout "${GPU_TRAIN_S:-270}" python3 -m genolong.training.train experiment=ecoli trainer=gpu \
  "+trainer.max_time=${GPU_TRAIN_MAX_TIME:-00:00:03:00}" trainer.enable_progress_bar=false \
  torch_threads=8 paths.store_root=/tmp/gpu_stores "hydra.run.dir=$run" > "$OUT/train_gpu.log" 2>&1
echo "rc=$? wall_s=$(( $(date +%s) - start ))" >> "$OUT/train_gpu.log"
tail -5 "$OUT/train_gpu.log"
cp "$run/metrics.json" "$OUT/train_gpu_metrics.json" 2>/dev/null
cp "$run/checkpoints/best.ckpt" "$OUT/ecoli_gpu_best.ckpt" 2>/dev/null
ls -la "$OUT"
