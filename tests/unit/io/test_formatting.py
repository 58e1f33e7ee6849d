"""The terminal's text within 120 columns (faceauth.io.formatting.fit_width, applied to the search's
summary and the train command's lines): metric lists break between pairs, prose keeps a number beside
its word, tables stay whole."""

from __future__ import annotations

from faceauth.io.formatting import TERMINAL_WIDTH, fit_width, format_metrics


def test_a_metric_list_breaks_between_pairs_with_an_indent():
    text = "test: " + format_metrics({f"bpcer_at_apcer_{i}pct": i / 10 for i in range(12)})
    lines = fit_width(text).split("\n")
    assert len(lines) > 1 and all(len(line) <= TERMINAL_WIDTH for line in lines)
    assert all(line.startswith("    bpcer_at_apcer_") for line in lines[1:])
    pairs = " ".join(lines).split()
    assert all(value.replace(".", "").isdigit() for value in pairs[2::2])  # every name still has its value after it


def test_prose_keeps_numbers_beside_their_words_and_tables_stay_whole():
    prose = "best trial fusion_0003: hyperparameters: " + ", ".join(f"parameter_{i} {i * 7}" for i in range(14))
    lines = fit_width(prose).split("\n")
    assert all(len(line) <= TERMINAL_WIDTH for line in lines)
    assert not any(line[:1].isdigit() for line in lines[1:])  # no line starts with a value cut from its name
    table = "| " + " | ".join(f"column {i}" for i in range(30)) + " |"
    assert fit_width(table) == table
    assert fit_width("short\n\nlines") == "short\n\nlines"

