#!/usr/bin/env bash
# Growth of LightGCN's cost with the graph (BENCHMARKS.md, "Scale: growth with edges"): generates 1M, 10M and 50M-edge
# graphs with `graphrec synth` (seed 0) into $WORK, then measures full propagation and the sampled path on each, one
# process per row, under the shared CPU lock. 1M rows run their whole first epoch; larger ones $STEPS_FULL /
# $STEPS_SAMPLED steps, with the epoch extrapolated (benchmarks/growth.py says how). Then fits and plots the slopes.
#
#     bash benchmarks/growth.sh /tmp/growth            # about 40 minutes on 2 cores, 23 GB
set -euo pipefail
WORK=${1:-/tmp/growth}
OUT=${OUT:-benchmarks/growth_results.jsonl}
STEPS_FULL=${STEPS_FULL:-12}
STEPS_SAMPLED=${STEPS_SAMPLED:-150}
LOCK=${LOCK:-/tmp/graphrec_cpu.lock}
mkdir -p "$WORK"
SIZES=${SIZES:-1000000 10000000 50000000}
for edges in $SIZES; do
  data="$WORK/synth_$edges"
  [ -f "$data/train.txt" ] || flock "$LOCK" graphrec synth --edges "$edges" --out "$data" --seed 0
  full_steps=$STEPS_FULL; sampled_steps=$STEPS_SAMPLED
  if [ "$edges" = 1000000 ]; then full_steps=0; sampled_steps=0; fi
  flock "$LOCK" python benchmarks/growth.py run "$data" --mode full --batch 8192 --steps "$full_steps" --out "$OUT"
  flock "$LOCK" python benchmarks/growth.py run "$data" --mode sampled --batch 1024 --fanouts 5,5,5 \
    --steps "$sampled_steps" --out "$OUT"
done
python benchmarks/growth.py plot "$OUT" --png benchmarks/growth.png
