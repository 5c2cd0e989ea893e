"""Pieces shared by the scripts that write GGUF files (tiny_bpe_gguf.py, reference_llamacpp.py,
synthetic-gguf.py): GPT-2's byte symbols and Llama 3.1's rope frequency divisors."""
import numpy as np


def byte_symbols():
    """GPT-2's byte-to-unicode table, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def llama3_rope_factors(head_dim, base, factor=8.0, low=1.0, high=4.0, orig_ctx=8192):
    """The per-frequency divisors llama.cpp's converter stores as `rope_freqs.weight`."""
    freqs = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    low_wl, high_wl = orig_ctx / low, orig_ctx / high
    out = []
    for f in freqs:
        wl = 2 * np.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (orig_ctx / wl - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)
