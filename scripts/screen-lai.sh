#!/usr/bin/env bash
# Screening sets for the Lai protocol, built only from our own data (never an evaluation image):
#   natural  2 mosaics of 7x7 held-out train400 crops (test_301-400), 60 px cross-fades, 900²
#   text     3 procedural document pages, glyphs 10-28 px, 900²
#   small    3 procedural document pages, glyphs 5-14 px, 900²
# each blurred by six shake kernels (two each of 31, 51, 75 px with long paths), 1 % noise, 8 bits.
#
# usage: scripts/screen-lai.sh NAME [extra `deblur bench lai` arguments...]
#   env: DEBLUR (binary, default target/release/deblur), SETS (default "natural text small"),
#        SCREEN_DIR (kernels, splits and CSVs; default /tmp/deblur-screen)
# writes $SCREEN_DIR/NAME_SET.csv and prints each set's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DEBLUR:-target/release/deblur}
DIR=${SCREEN_DIR:-/tmp/deblur-screen}
DATA=${DEBLUR_DATA:-../shared/data}
SETS=${SETS:-natural text small}
NAME=${1:?usage: screen-lai.sh NAME [bench lai args...]}
shift
mkdir -p "$DIR/holdout100"
for k in 31 51 75; do
  if [ ! -f "$DIR/big$k.npy" ]; then
    "$BIN" kernels synth --size $k --count 2 --seed 7$k --path-length $((5 * k / 2)) \
      --extent 0.6..0.95 -o "$DIR/big$k.npy" >/dev/null
  fi
done
for i in $(seq 301 400); do
  f="$DATA/train400/test_$i.png"
  [ -e "$DIR/holdout100/test_$i.png" ] || ln -s "$(realpath "$f")" "$DIR/holdout100/test_$i.png"
done
KERNELS="$DIR/big31.npy,$DIR/big51.npy,$DIR/big75.npy"
for set in $SETS; do
  case $set in
    natural) imgs=(--screen-images "$DIR/holdout100" --screen-tiles 7 --screen-blend 60 --screen-count 2) ;;
    text) imgs=(--screen-images text-pages --screen-tiles 5 --screen-count 3) ;;
    small) imgs=(--screen-images text-pages:5-14 --screen-tiles 5 --screen-count 3) ;;
    *) echo "unknown set $set (natural, text, small)" >&2; exit 2 ;;
  esac
  "$BIN" bench lai --data "$DATA/lai2016" --screen-kernels "$KERNELS" "${imgs[@]}" \
    --csv "$DIR/${NAME}_$set.csv" "$@" > "$DIR/${NAME}_$set.log" 2>&1
  awk -F, -v n="$NAME" -v s="$set" 'NR>1{p+=$5;q+=$6;b+=$8;t+=$7;c++;if($5<$8)d++}
    END{printf "%-24s %-8s %2d cases  PSNR %.2f  SSIM %.3f  blurred %.2f  below %d  %.1f s/case\n",n,s,c,p/c,q/c,b/c,d,t/c}' \
    "$DIR/${NAME}_$set.csv"
done
