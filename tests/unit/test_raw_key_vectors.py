"""Raw-key rule shared with Go: the same vectors (tests/data/raw_key_vectors.json) run in both languages."""

from __future__ import annotations

import json

import pytest

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.keys import RawKey

from ..conftest import ROOT

VECTORS = json.loads((ROOT / "tests" / "data" / "raw_key_vectors.json").read_text())


@pytest.mark.parametrize("case", VECTORS, ids=[repr(c["key"])[:60] for c in VECTORS])
def test_vector(case):
    if case["valid"]:
        assert str(RawKey.parse(case["key"])) == case["key"]
    else:
        with pytest.raises(InvalidInput):
            RawKey.parse(case["key"])
