#!/usr/bin/env bash
# torch.distributed on this machine: 1 process vs 2 torchrun processes, for LightGCN training epochs on Gowalla
# and for `graphrec embed` of the Gowalla LightGCN run and the MovieLens PinSAGE run. Results in OUT/*.log/json.
#   flock /tmp/graphrec_cpu.lock bash benchmarks/distributed.sh /tmp/dist_bench
set -euo pipefail
OUT=${1:-/tmp/dist_bench}
EPOCHS=${EPOCHS:-2}
LIGHTGCN_RUN=${LIGHTGCN_RUN:-/tmp/final_all/lightgcn-seed2020}
PINSAGE_RUN=${PINSAGE_RUN:-/tmp/ml_bench/pinsage}
mkdir -p "$OUT"
timed() {  # timed NAME COMMAND...: wall seconds and peak RSS (largest single process) into OUT/NAME.time
  local name=$1; shift
  /usr/bin/time -f "%e s wall, %M KB max RSS" -o "$OUT/$name.time" "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"
  echo "$name: $(cat "$OUT/$name.time")"
}
train=(train --config configs/gowalla_lightgcn.toml --data ../shared/data/gowalla --epochs "$EPOCHS" --no-progress)
rm -rf "$OUT"/train_* "$OUT"/embed_*
timed train_1proc_2threads python -m graphrec "${train[@]}" --out "$OUT/train_1proc_2threads"
OMP_NUM_THREADS=1 timed train_1proc_1thread python -m graphrec "${train[@]}" --out "$OUT/train_1proc_1thread"
OMP_NUM_THREADS=1 timed train_2proc torchrun --nproc_per_node=2 --master_port=29631 -m graphrec "${train[@]}" \
  --out "$OUT/train_2proc"
for model in lightgcn pinsage; do
  run=$LIGHTGCN_RUN; [ "$model" = pinsage ] && run=$PINSAGE_RUN
  timed "embed_${model}_1proc_2threads" python -m graphrec embed "$run" --out "$OUT/embed_${model}_1proc_2threads"
  OMP_NUM_THREADS=1 timed "embed_${model}_1proc_1thread" python -m graphrec embed "$run" \
    --out "$OUT/embed_${model}_1proc_1thread"
  OMP_NUM_THREADS=1 timed "embed_${model}_2proc" torchrun --nproc_per_node=2 --master_port=29632 -m graphrec embed \
    "$run" --out "$OUT/embed_${model}_2proc"
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
from safetensors.torch import load_file
out = Path(sys.argv[1])
one, two = (load_file(str(out / n / "model.safetensors")) for n in ("train_1proc_2threads", "train_2proc"))
diff = max(float((one[k] - two[k]).abs().max()) for k in one if k.startswith("model."))
print(f"train: max |1-process - 2-process| weight after the epochs: {diff:.3g}")
for model in ("lightgcn", "pinsage"):
    a, b = (out / f"embed_{model}_{n}" for n in ("1proc_2threads", "2proc"))
    for kind in ("user", "item"):
        x, y = np.load(a / f"{kind}_embeddings.npy"), np.load(b / f"{kind}_embeddings.npy")
        print(f"embed {model} {kind}: shape {x.shape}, max |1-process - 2-process| {np.abs(x - y).max():.3g}")
PY
