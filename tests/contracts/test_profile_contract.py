"""The SourceProfile contract bound to every profile registered in this installation (jackfruit's own datasets
register through the same entry-point group a team's package would)."""

from __future__ import annotations

import pytest

from jackfruit.registry import default_registry

from .profile_suite import ProfileContract

REGISTERED = default_registry().all()


@pytest.mark.parametrize("registered", REGISTERED, ids=[p.name for p in REGISTERED])
class TestRegisteredProfile(ProfileContract):
    @pytest.fixture
    def profile(self, registered):
        return registered
