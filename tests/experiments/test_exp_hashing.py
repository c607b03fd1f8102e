"""GrowthBook hash: the shared cases.json vectors, astral characters, and the vectorised path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.assignment import hash_value
from experiments.hashing import fnv1a32, hash_values

CASES = json.loads((Path(__file__).parent / "data" / "growthbook_cases.json").read_text())

# Computed with node from the JS loop in packages/sdk-js/src/util.ts (charCodeAt, i.e.
# UTF-16 code units): the case file has no character outside the BMP, these do.
JS_VECTORS = [
    ("😀a", 0.4928, 0.308),
    ("é", 0.8593, 0.161),
    ("a😀b", 0.4251, 0.906),
    ("日本", 0.2477, 0.409),
    ("Zoë-42", 0.0341, 0.649),
    ("𝔘𝔫𝔦", 0.4296, 0.264),
    ("c0ffee-🍕-id", 0.7611, 0.451),
]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash_matches_growthbook_cases(seed, value, version, expected):
    assert hash_value(seed, value, version) == expected


@pytest.mark.parametrize(("seed", "value", "version", "expected"), [c for c in CASES["hash"] if c[2] in (1, 2)])
def test_vectorised_hash_matches_growthbook_cases(seed, value, version, expected):
    assert hash_values(seed, [value, value], version).tolist() == [expected, expected]


def test_worked_examples_from_reference():
    assert fnv1a32("seeda") == 717764279
    assert fnv1a32("717764279") == 2503390505
    assert hash_value("seed", "a", 2) == 0.0505
    assert fnv1a32("a") == 3826002220
    assert hash_value("", "a", 1) == 0.22


@pytest.mark.parametrize(("value", "v2", "v1"), JS_VECTORS)
def test_astral_characters_hash_as_utf16_surrogates_like_js(value, v2, v1):
    assert hash_value("exp-key", value, 2) == v2
    assert hash_value("exp-key", value, 1) == v1
    assert hash_values("exp-key", [value, "plain"], 2)[0] == v2
    assert hash_values("exp-key", [value], 1)[0] == v1


def test_unknown_version_is_none_scalar_and_error_vectorised():
    assert hash_value("abc", "def", 99) is None
    with pytest.raises(ValueError, match="version"):
        hash_values("abc", ["def"], 3)


ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=ids, values=st.lists(ids, max_size=30), version=st.sampled_from([1, 2]))
def test_vectorised_equals_scalar(seed, values, version):
    got = hash_values(seed, values, version)
    assert got.tolist() == [hash_value(seed, v, version) for v in values]


def test_vectorised_handles_chunks_and_generators():
    values = [f"customer-{i}" for i in range(300_000)]  # more than one block
    got = hash_values("k", (v for v in values))
    picks = np.random.default_rng(0).choice(len(values), 200, replace=False)
    assert all(got[i] == hash_value("k", values[i]) for i in picks)
    assert ((got >= 0) & (got < 1)).all()
