"""One mask() for every output: prefix, ellipsis, last four; short values reveal nothing."""

from __future__ import annotations

from conftest import fake_key

from llmenv.findings import CheckResult, Finding, Fix
from llmenv.render import scrub_results
from llmenv.secrets import mask, redact


def test_known_prefixes_are_kept_and_the_tail_shown():
    assert mask("sk-proj-" + "a" * 40 + "WXYZ") == "sk-proj-…WXYZ"
    assert mask("sk-ant-api03-" + "b" * 80 + "1234") == "sk-ant-api03-…1234"
    assert mask("sk-" + "c" * 44 + "9876") == "sk-…9876"
    assert mask("hf_" + "d" * 30 + "abcd") == "hf_…abcd"
    assert mask("0123456789abcdef0123456789abcdef") == "…cdef"


def test_two_keys_stay_distinguishable():
    a, b = fake_key(), fake_key()
    assert a[-4:] == b[-4:] or mask(a) != mask(b)


def test_short_values_reveal_no_characters():
    assert mask("sk-abc") == "sk-…(6 chars)"
    assert mask("") == "…(0 chars)"


def test_control_and_non_ascii_characters_are_escaped_in_the_mask():
    masked = mask("sk-proj-" + "a" * 30 + "ab\r\n")
    assert "\r" not in masked and "\n" not in masked and masked.endswith("ab\\r\\n")


def test_redact_replaces_every_whole_secret():
    key = fake_key()
    text = f"key={key}; again {key}"
    assert redact(text, {key}) == f"key={mask(key)}; again {mask(key)}"


def test_scrub_results_masks_messages_fixes_and_details():
    key = fake_key()
    finding = Finding("x", "warn", f"found {key}", fixes=(Fix(f"rotate {key}", f"echo {key}"),), detail=key)
    (scrubbed,) = scrub_results([CheckResult("key", "API key", (finding,))], {key})
    out = repr(scrubbed)
    assert key not in out and mask(key) in out
