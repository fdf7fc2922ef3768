# Sourced by the side-by-side scripts: finds PyTorch in a scratch virtual environment (never a
# project dependency), prints the machine, and reads criterion's middle estimate.
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch   (then TORCH_PYTHON=…)
py="${TORCH_PYTHON:-/tmp/torchenv/bin/python}"
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "error: no PyTorch at $py; make a scratch environment: python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch, then set TORCH_PYTHON" >&2
    exit 2
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

# criterion_ms BENCH FILTER: the middle estimate of the first benchmark matching FILTER, in
# milliseconds, with 2 rayon threads (criterion prints `time:` on the name's line or the next).
criterion_ms() {
    RAYON_NUM_THREADS=2 cargo bench --bench "$1" -- "$2" 2>/dev/null |
        awk '/time:/ { gsub(/\[|\]/, ""); for (i = 1; i <= NF; i++) if ($i == "time:") t = i;
                      v = $(t + 3); u = $(t + 4);
                      if (u == "s") v *= 1000; if (u == "µs" || u == "us") v /= 1000;
                      print v; exit }'
}
