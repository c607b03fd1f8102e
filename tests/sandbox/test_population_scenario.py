"""Scenario files: the shipped ones load, bad ones are refused with file, line and key."""

from __future__ import annotations

import pytest

from connector.crm.errors import ConfigurationError
from connector.sandbox.scenario import SCENARIO_DIR, load_scenario


def test_shipped_scenarios_share_segments_and_null_has_no_effect():
    default, null = load_scenario("default"), load_scenario("null")
    assert default.segment_names == null.segment_names == ["loyal", "regular", "lapsing"]
    assert [s.effect.conversion_lift for s in default.segments] == [0.03, 0.12, 0.05]
    assert all(s.effect.conversion_lift == 0 and s.effect.spend_lift == 0 for s in null.segments)
    for a, b in zip(default.segments, null.segments, strict=True):
        assert a.model_dump(exclude={"effect"}) == b.model_dump(exclude={"effect"})
    assert sorted(p.name for p in SCENARIO_DIR.glob("*.yaml")) == ["default.yaml", "null.yaml", "saas.yaml"]


def test_name_pattern_reads_experiment_and_arm_from_segsync_list_names():
    scen = load_scenario("default")
    m = scen.name_pattern().match("segsync spring-promo treatment")
    assert m and m.group("experiment") == "spring-promo" and m.group("arm") == "treatment"
    assert scen.arms.kind("Treatment") == "treatment" and scen.arms.kind("A") == "control"
    assert scen.arms.kind("holdout") == "holdout" and scen.arms.kind("other") is None
    assert scen.name_pattern().match("segsync loyal") is None
    custom = scen.model_copy(update={"name_template": "[{segment_name}] {experiment}/{arm}"})
    m = custom.name_pattern().match("[Champions (2)] exp.1/control")
    assert m and m.group("segment_name") == "Champions (2)" and m.group("arm") == "control"


def test_attribute_values_are_collected_across_segments():
    values = load_scenario("default").attribute_values()
    assert values["plan"] == ["premium", "basic", "free"]
    assert set(values) == {"country", "channel", "plan"}


def test_bad_scenario_names_file_line_and_key(tmp_path):
    text = (SCENARIO_DIR / "default.yaml").read_text()
    bad = text.replace("share: 0.30", "share: 0.40").replace("rate: 100.0}", "rate: -1}")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigurationError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "bad.yaml:" in message and "segments[1].purchase_rate.rate" in message
    path.write_text(text.replace("share: 0.30", "share: 0.40"))
    with pytest.raises(ConfigurationError, match="shares must sum to 1"):
        load_scenario(path)
    path.write_text(text.replace("window_days: 30", "window_dayz: 30"))
    with pytest.raises(ConfigurationError, match="did you mean 'window_days'"):
        load_scenario(path)


def test_unknown_scenario_lists_the_shipped_ones():
    with pytest.raises(ConfigurationError, match="shipped: default, null"):
        load_scenario("nope")
