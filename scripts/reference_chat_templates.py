#!/usr/bin/env python3
"""Render the chat-template fixtures the way Hugging Face `apply_chat_template` does.

Writes tests/fixtures/engine/chat_templates/expected.json, which `src/engine/chat_template.rs`'s
tests compare mhbench's minijinja rendering against. The environment mirrors transformers'
`_compile_jinja_template` (transformers/utils/chat_template_utils.py): an immutable sandbox with
trim_blocks and lstrip_blocks, the loopcontrols extension, `raise_exception`, `strftime_now` and
a `tojson` filter that calls json.dumps with ensure_ascii=False; the render call passes
`messages`, `tools=None`, `documents=None`, `add_generation_prompt`, the special tokens and any
extra variables (`enable_thinking`).

Usage: python3 scripts/reference_chat_templates.py
"""
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.sandbox

HERE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "engine", "chat_templates")

LLAMA = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
QWEN = {"eos_token": "<|im_end|>"}
R1 = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}

USER = [{"role": "user", "content": "I can't sleep and I feel worthless. What should I do?"}]
SYSTEM_USER = [{"role": "system", "content": "You are a supportive counsellor. "}] + USER
MULTI_TURN = USER + [
    {"role": "assistant", "content": "<think>\nThey feel low.\n</think>\n\nI'm sorry you're going through this."},
    {"role": "user", "content": "Thanks. Is it normal?"},
]

CASES = [
    ("llama3.1.jinja", LLAMA, USER, True, {}),
    ("llama3.1.jinja", LLAMA, SYSTEM_USER, True, {}),
    ("llama3.1.jinja", LLAMA, MULTI_TURN, False, {}),
    ("qwen2.5.jinja", QWEN, USER, True, {}),
    ("qwen2.5.jinja", QWEN, SYSTEM_USER, True, {}),
    ("qwen2.5.jinja", QWEN, MULTI_TURN, True, {}),
    ("qwen3.jinja", QWEN, USER, True, {}),
    ("qwen3.jinja", QWEN, USER, True, {"enable_thinking": False}),
    ("qwen3.jinja", QWEN, SYSTEM_USER, True, {"enable_thinking": True}),
    ("qwen3.jinja", QWEN, MULTI_TURN, True, {"enable_thinking": False}),
    ("deepseek-r1-distill.jinja", R1, USER, True, {}),
    ("deepseek-r1-distill.jinja", R1, SYSTEM_USER, True, {}),
    ("deepseek-r1-distill.jinja", R1, MULTI_TURN, True, {}),
    ("deepseek-r1-distill.jinja", R1, MULTI_TURN, False, {}),
]


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = environment()
    cases = []
    for name, special, messages, add_generation_prompt, extra in CASES:
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            template = env.from_string(f.read())
        rendered = template.render(messages=messages, tools=None, documents=None,
                                   add_generation_prompt=add_generation_prompt, **special, **extra)
        cases.append({"template": name, "messages": messages, "add_generation_prompt": add_generation_prompt,
                      "bos_token": special.get("bos_token"), "eos_token": special.get("eos_token"),
                      "enable_thinking": extra.get("enable_thinking"), "expected": rendered})
    out = {"reference": f"jinja2 {jinja2.__version__}, environment as transformers apply_chat_template",
           "script": "scripts/reference_chat_templates.py", "cases": cases}
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
