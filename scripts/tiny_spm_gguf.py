#!/usr/bin/env python3
"""Write a tiny vocabulary-only SentencePiece-type GGUF with `add_space_prefix = true`.

The default test model's vocabulary (Gemma 3) has `add_space_prefix = false`; Llama-2-style
SentencePiece files have it true, and llama.cpp then puts a space before the text and after
every special or user-defined token. This file keeps Gemma's own pieces and scores, cut down to
stay small: the first 110 ids (pad, eos, bos, unk, mask, turn markers, unused), all byte tokens,
all user-defined tokens (runs of newlines and tabs, some HTML tags), the 5,000 best-scored
normal pieces and the single characters they are made of (plus Latin-1), in their original order;
then sets add_space_prefix. scripts/reference_tokenizer.py
writes its fixture.

Usage:
    python3 scripts/tiny_spm_gguf.py models/gemma-3-270m-q4_k_m.gguf OUT.gguf
"""
import argparse
import os

import gguf

NORMAL, CONTROL, USER_DEFINED, BYTE = 1, 3, 4, 6
HEAD_IDS = 110
NORMAL_PIECES = 5000


def read_vocab(path):
    reader = gguf.GGUFReader(path)
    field = reader.fields
    tokens = [bytes(field["tokenizer.ggml.tokens"].parts[i]).decode() for i in field["tokenizer.ggml.tokens"].data]
    scores = [float(field["tokenizer.ggml.scores"].parts[i][0]) for i in field["tokenizer.ggml.scores"].data]
    types = [int(field["tokenizer.ggml.token_type"].parts[i][0]) for i in field["tokenizer.ggml.token_type"].data]
    return tokens, scores, types


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gemma_gguf")
    parser.add_argument("out")
    args = parser.parse_args()
    tokens, scores, types = read_vocab(args.gemma_gguf)
    normal = sorted((i for i, t in enumerate(types) if t == NORMAL and i >= HEAD_IDS), key=lambda i: -scores[i])
    keep = set(range(HEAD_IDS)) | {i for i, t in enumerate(types) if t in (BYTE, USER_DEFINED)}
    keep |= set(normal[:NORMAL_PIECES])
    # A real SentencePiece vocabulary holds every character of its pieces as a piece too (the
    # alphabet, scored lowest); keep those, and Latin-1, so the cut vocabulary stays realistic.
    chars = {c for i in keep if types[i] == NORMAL for c in tokens[i]} | {chr(c) for c in range(32, 256)}
    keep |= {i for i, t in enumerate(types) if t == NORMAL and len(tokens[i]) == 1 and tokens[i] in chars}
    kept = sorted(keep)

    writer = gguf.GGUFWriter(args.out, "llama")
    writer.add_name("mhbench tiny SentencePiece vocabulary (from Gemma 3), add_space_prefix")
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([tokens[i] for i in kept])
    writer.add_token_scores([scores[i] for i in kept])
    writer.add_token_types([types[i] for i in kept])
    writer.add_bos_token_id(kept.index(2))
    writer.add_eos_token_id(kept.index(1))
    writer.add_unk_token_id(kept.index(3))
    writer.add_pad_token_id(kept.index(0))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(args.out, len(kept), "tokens,", os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
