#!/usr/bin/env python3
"""Which of two known recordings does a heard slice of a call contain?

    audio_match.py HEARD.wav WANTED.wav OTHER.wav

Exits 0 when WANTED's loudness contour is found in HEARD clearly better than OTHER's, and prints
both scores. The bot's TTS is deterministic, so what a caller hears of a known sentence is the same
sound as `chalkbot say` makes of it, shifted in time and through G.711: no recogniser, whose words
vary with the machine's load, decides the outcome.

The contour is the level in dB of each 10 ms frame (floored at -60 dB, so silence does not count by
its noise); the score is the best Pearson correlation of WANTED's contour against every window of
HEARD's, over every shift.
"""
import array
import math
import sys
import wave

FRAME_MS = 10
FLOOR_DB = -60.0


def contour(path):
    with wave.open(path) as w:
        if w.getsampwidth() != 2:
            sys.exit(f"{path}: 16-bit PCM expected")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = array.array("h", w.readframes(w.getnframes()))
    if channels > 1:
        pcm = pcm[::channels]
    step = rate * FRAME_MS // 1000
    levels = []
    for i in range(0, len(pcm) - step + 1, step):
        power = sum(x * x for x in pcm[i:i + step]) / step / 32768.0 ** 2
        levels.append(max(10 * math.log10(power + 1e-12), FLOOR_DB))
    return levels


def voiced(levels):
    """LEVELS without the silence before and after the speech (TTS lead-in, which the bot trims)."""
    loud = [i for i, level in enumerate(levels) if level > FLOOR_DB + 20]
    return levels[loud[0]:loud[-1] + 1] if loud else levels


def best_correlation(heard, known):
    """Highest Pearson correlation of KNOWN against any window of HEARD (KNOWN zero-padded when
    HEARD is shorter: a cut-off answer scores low rather than not at all)."""
    if len(heard) < len(known):
        heard = heard + [FLOOR_DB] * (len(known) - len(heard))
    n = len(known)
    mean_k = sum(known) / n
    dev_k = [k - mean_k for k in known]
    norm_k = math.sqrt(sum(d * d for d in dev_k))
    best = -1.0
    for shift in range(len(heard) - n + 1):
        window = heard[shift:shift + n]
        mean_w = sum(window) / n
        dev_w = [w - mean_w for w in window]
        norm_w = math.sqrt(sum(d * d for d in dev_w))
        if norm_w == 0 or norm_k == 0:
            continue
        best = max(best, sum(a * b for a, b in zip(dev_k, dev_w)) / (norm_k * norm_w))
    return best


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    heard, wanted, other = contour(sys.argv[1]), *(voiced(contour(p)) for p in sys.argv[2:])
    score_wanted = best_correlation(heard, wanted)
    score_other = best_correlation(heard, other)
    print(f"wanted {score_wanted:.2f} other {score_other:.2f}")
    # A matching contour scores about 0.9 through a phone line, less when a loaded machine delays
    # a frame or two of it (0.78 seen with six tests at once on 2 cores); another sentence of the
    # same voice rarely passes 0.6. So: clearly above that, and clearly above the other one.
    sys.exit(0 if score_wanted >= 0.7 and score_wanted > score_other + 0.25 else 1)


if __name__ == "__main__":
    main()
