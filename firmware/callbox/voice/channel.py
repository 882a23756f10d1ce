"""A telephone channel in software: what a callee's voice sounds like by the time it reaches the box.

Used to make evaluation and test audio realistic without recordings: 8 kHz, the 300–3400 Hz band of
the PSTN, optional noise at a given SNR, and G.711 μ-law companding (the codec on SIP trunks and in
GSM gateways). Deterministic for a given seed. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from callbox.voice import audio

MU = 255.0


def band_limit(samples: np.ndarray, rate: int = audio.LINE_RATE, low: float = 300.0, high: float = 3400.0) -> np.ndarray:
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(samples.size, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, samples.size).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White-ish noise, shaped like a room (more low than high), at ``snr_db`` below the speech."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, samples.size).astype(np.float32)
    noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # tilt toward low frequencies
    active = samples[np.abs(samples) > 0.01]
    speech_rms = float(np.sqrt(np.mean(active**2))) if active.size else 0.05
    noise_rms = float(np.sqrt(np.mean(noise**2))) or 1.0
    return samples + noise * (speech_rms / noise_rms) * 10 ** (-snr_db / 20)


def mu_law(samples: np.ndarray) -> np.ndarray:
    """Encode to 8-bit μ-law and back, as G.711 does."""
    x = np.clip(samples, -1.0, 1.0)
    encoded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    quantised = np.round(encoded * 127) / 127
    return (np.sign(quantised) * ((1 + MU) ** np.abs(quantised) - 1) / MU).astype(np.float32)


def telephone(samples: np.ndarray, rate: int, snr_db: float | None = None, seed: int = 0, level: float = 0.3) -> bytes:
    """Any audio → line PCM as a caller's voice arrives: band-limited, noisy if asked, μ-law coded."""
    line = audio.resample(samples, rate, audio.LINE_RATE)
    line = band_limit(line)
    peak = float(np.max(np.abs(line))) or 1.0
    line = line * (level / peak)
    lead = np.zeros(audio.LINE_RATE // 5, dtype=np.float32)  # 200 ms before and after, as in a real turn
    line = np.concatenate([lead, line, lead])
    if snr_db is not None:
        line = add_noise(line, snr_db, seed)
    return audio.to_pcm16(mu_law(line))
