"""The report groups taggers by kind (recurrent, image, set and graph, high-level), published ones too."""

from __future__ import annotations

from jettag.report.html import _by_group
from jettag.report.published import GROUPS, PUBLISHED, group_of


def test_every_model_kind_and_published_tagger_has_its_group():
    assert [group_of(k) for k in ("recurrent", "cnn", "pfn", "particlenet", "bdt")] == [
        "recurrent",
        "image",
        "set and graph",
        "set and graph",
        "high-level",
    ]
    assert group_of("something new") == "other"
    assert {p["group"] for p in PUBLISHED} == set(GROUPS)
    assert {p["model"] for p in PUBLISHED if p["group"] == "set and graph"} >= {"PFN", "ParticleNet"}


def test_rows_come_in_group_order_under_their_titles_keeping_their_order_within_a_group():
    rows = [
        ("high-level", ["bdt"]),
        ("set and graph", ["pfn"]),
        ("recurrent", ["lstm"]),
        ("image", ["cnn"]),
        ("recurrent", ["gru"]),
        ("set and graph", ["PFN (published)"]),
    ]
    assert _by_group(rows) == [
        "recurrent", ["lstm"], ["gru"],
        "image", ["cnn"],
        "set and graph", ["pfn"], ["PFN (published)"],
        "high-level", ["bdt"],
    ]  # fmt: skip
