"""``callbox voice understand``: any WAV (rate, channels) → one JSON line per file."""

import json
import subprocess
import sys
import wave

import numpy as np

from callbox.voice import audio


def write(path, samples, rate, channels=1):
    data = np.repeat(samples[:, None], channels, axis=1).reshape(-1) if channels > 1 else samples
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(audio.to_pcm16(data))


def test_understand_prints_one_json_object_per_file(tmp_path, piper_en):
    samples, rate = piper_en.synthesize("Please stop calling me.")
    stereo = tmp_path / "optout-22k-stereo.wav"
    write(stereo, samples, rate, channels=2)
    mono16 = tmp_path / "yes-16k.wav"
    yes, yes_rate = piper_en.synthesize("Yes, that's fine.")
    write(mono16, audio.resample(yes, yes_rate, 16000), 16000)
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from callbox.cli import main; sys.exit(main())", "voice", "understand", str(stereo), str(mono16), "--lang", "en", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(stereo), str(mono16)]
    assert set(rows[0]) == {"file", "lang", "text", "intent", "confidence"}
    assert rows[0]["intent"] == "opt_out" and rows[0]["lang"] == "en"
    assert rows[1]["intent"] == "consent_yes"
    assert 0 < rows[0]["confidence"] <= 1
