#!/usr/bin/env bash
# Remakes the queue announcement prompts (position, estimated wait, free of charge, and the
# number fragments they are said with) and the callback offer's (src/call/callback_offer.rs):
# sounds/<lang>/<name>.wav, 8 kHz mono 16-bit PCM.
# The words are in src/acd/phrases.tsv, the same table src/acd/phrases.rs reads, so the code
# and the WAVs cannot disagree about what a prompt says. Needs espeak-ng and sox
# (apt-get install espeak-ng sox). Output is committed; rerun after editing the table.
# Each prompt is trimmed of espeak-ng's own silence (a 5 ms fade in, 10 ms out, against clicks),
# then gets the table's pause before it (a sentence start) and 80 ms after it, so fragments
# played back to back sound like one phrase: "двадцать" + "одна" + "минута."
# Usage: scripts/make-number-prompts.sh [OUTDIR]   (default: sounds)
set -euo pipefail
out=${1:-sounds}
table=$(dirname "$0")/../src/acd/phrases.tsv
declare -A VOICE=([kk]=kk [ru]=ru [en]=en)
make() { # lang name pause_ms text
  mkdir -p "$out/$1"
  espeak-ng -v "${VOICE[$1]}" -s 150 --stdout "$4" |
    sox -q -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$out/$1/$2.wav" \
      silence 1 0.02 0.5% fade q 0.005 reverse silence 1 0.02 0.5% fade q 0.01 reverse \
      pad "$(printf '0.%03d' "$3")" 0.08
}
n=0
while IFS=$'\t' read -r name pause kk ru en; do
  [[ -z $name || $name == \#* ]] && continue
  (( pause < 1000 )) || { echo "$table: $name: pause must be under 1000 ms" >&2; exit 1; }
  make kk "$name" "$pause" "$kk"
  make ru "$name" "$pause" "$ru"
  make en "$name" "$pause" "$en"
  n=$((n + 1))
done < "$table"
echo "$n queue prompts written to $out/{kk,ru,en}"
