"""sounds/: the announcements FreeSWITCH plays, in its rate-folder layout, with the right format and length."""

import array
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.tools import require_tools

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = ROOT / "sounds"
# The controller plays $CALLREC_SOUNDS_DIR/callrec/<name>; FreeSWITCH picks <rate>/ itself.
NAMES = ("call-recording-started.wav", "call-recording-stopped.wav")
RATES = (8000, 16000)
FILES = [(rate, name) for rate in RATES for name in NAMES]




@pytest.mark.parametrize(("rate", "name"), FILES, ids=[f"{r}/{n}" for r, n in FILES])
def test_each_announcement_exists_in_each_rate_folder(rate, name):
    assert (SOUNDS / "callrec" / str(rate) / name).is_file()


def test_rate_folders_hold_only_the_announcements():
    for rate in RATES:
        assert sorted(p.name for p in (SOUNDS / "callrec" / str(rate)).iterdir()) == sorted(NAMES)
    assert sorted(p.name for p in (SOUNDS / "callrec").iterdir()) == sorted(str(r) for r in RATES)


@pytest.mark.parametrize(("rate", "name"), FILES, ids=[f"{r}/{n}" for r, n in FILES])
def test_announcement_is_mono_16_bit_pcm_at_its_folders_rate(rate, name):
    with wave.open(str(SOUNDS / "callrec" / str(rate) / name)) as sound:  # wave reads PCM only
        assert sound.getnchannels() == 1
        assert sound.getsampwidth() == 2
        assert sound.getframerate() == rate


@pytest.mark.parametrize(("rate", "name"), FILES, ids=[f"{r}/{n}" for r, n in FILES])
def test_announcement_lasts_between_one_and_four_seconds(rate, name):
    with wave.open(str(SOUNDS / "callrec" / str(rate) / name)) as sound:
        seconds = sound.getnframes() / sound.getframerate()
    assert 1.0 <= seconds <= 4.0


@pytest.mark.parametrize(("rate", "name"), FILES, ids=[f"{r}/{n}" for r, n in FILES])
def test_announcement_is_audible_and_not_clipped(rate, name):
    with wave.open(str(SOUNDS / "callrec" / str(rate) / name)) as sound:
        samples = array.array("h", sound.readframes(sound.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    peak = max(abs(s) for s in samples) / 32768
    assert 0.5 <= peak < 0.99  # normalised to -3 dBFS (0.71) by generate.sh


def test_generate_script_is_committed_and_names_every_file_and_rate():
    script = SOUNDS / "generate.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    for name in NAMES:
        assert name.removesuffix(".wav") in text
    for rate in RATES:
        assert str(rate) in text
    assert "espeak-ng" in text and "sox" in text


def test_generate_script_reproduces_the_committed_files(tmp_path):
    require_tools("espeak-ng", "sox")
    shutil.copy(SOUNDS / "generate.sh", tmp_path / "generate.sh")
    subprocess.run(["bash", str(tmp_path / "generate.sh")], check=True, capture_output=True, timeout=120)
    for rate, name in FILES:
        generated = (tmp_path / "callrec" / str(rate) / name).read_bytes()
        committed = (SOUNDS / "callrec" / str(rate) / name).read_bytes()
        assert generated == committed, f"{rate}/{name}: rerun sounds/generate.sh and commit the result"
