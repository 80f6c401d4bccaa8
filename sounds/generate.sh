#!/bin/bash
# Generate callrec's announcements from text, in FreeSWITCH's rate-folder layout.
#
#   sounds/callrec/8000/call-recording-started.wav    sounds/callrec/16000/call-recording-started.wav
#   sounds/callrec/8000/call-recording-stopped.wav    sounds/callrec/16000/call-recording-stopped.wav
#
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox). The output is committed; rerun this
# only when the wording changes, then commit the WAV files with the script. The same espeak-ng and sox
# versions give byte-identical files (no dither, no timestamps in WAV headers); see sounds/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${here}/callrec"

# name|text. The file names are a contract with the controller (it plays
# $CALLREC_SOUNDS_DIR/callrec/<name>.wav) and with freeswitch/conf (dialplan test extension 9440).
prompts=(
    "call-recording-started|Call recording started."
    "call-recording-stopped|Call recording stopped."
)

# 8000 Hz for narrowband calls (PCMU/PCMA), 16000 Hz for wideband (G722). FreeSWITCH opens
# <dir>/<channel rate>/<file> first and falls back to higher rates, so both are shipped.
rates=(8000 16000)

for tool in espeak-ng sox; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "generate.sh: $tool is missing; install it with: apt-get install espeak-ng sox" >&2
        exit 1
    fi
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for prompt in "${prompts[@]}"; do
    name="${prompt%%|*}"
    text="${prompt#*|}"
    # en-us at 150 words per minute: slower than espeak's default so it stays clear on an 8 kHz line.
    espeak-ng -v en-us -s 150 -w "${tmp}/${name}.wav" "$text"
    for rate in "${rates[@]}"; do
        mkdir -p "${out}/${rate}"
        # -D: no dither, so the output is reproducible. remix 1: mono. highpass 100: drop the rumble
        # below the telephone band. norm -3: peak at -3 dBFS, loud enough over a call without clipping
        # after codec conversion. pad: a short lead-in so the first syllable is not clipped while the
        # media bug attaches, and a tail so "started." is not cut off. rate -v: high-quality resampler.
        sox -D "${tmp}/${name}.wav" -b 16 -e signed-integer -c 1 "${out}/${rate}/${name}.wav" \
            remix 1 highpass 100 norm -3 pad 0.2 0.3 rate -v "$rate"
    done
done

echo "Generated:"
find "$out" -name '*.wav' | sort
