"""The SourceProfile contract: what every dataset's profile must do, jackfruit's own and a team's. A third-party
profile proves itself by binding this suite to it:

    from tests.contracts.profile_suite import ProfileContract   # or copy this module into your package's tests

    class TestMyDataset(ProfileContract):
        @pytest.fixture
        def profile(self):
            return my_package.my_dataset.PROFILE

The suite decodes with jackfruit's decoder adapter (``EccodesGribDecoder``): a profile names messages through the
decoder port's ``GribMessage`` and never reads GRIB itself. ``day`` is a partition day the upstream has."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta, timezone

import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain import acceptance
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.keys import RawKey, check_name
from jackfruit.domain.model import Dataset
from jackfruit.domain.tiling import GRIB_NAMES, plan_tiles
from jackfruit.ports.source import SourceProfile
from jackfruit.registry import Registry

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)


def scan(product: bytes, names=GRIB_NAMES) -> list:
    with tempfile.NamedTemporaryFile(suffix=".grib") as f:
        f.write(product)
        f.flush()
        return EccodesGribDecoder().scan(f.name, names)


class ProfileContract:
    """Subclasses provide the fixture ``profile``; ``small_request`` may be overridden to keep the synthetic
    product small (default: the template, with its first two variables)."""

    @pytest.fixture
    def day(self, profile) -> date:
        return min(profile.available_until(NOW), max(profile.first_day, date(2025, 3, 12)))

    @pytest.fixture
    def small_request(self, profile, day) -> dict:
        definition = profile.definition()
        request = definition.request_for(day)
        variables = request.get("variable")
        if isinstance(variables, list) and len(variables) > 2:
            request["variable"] = variables[:2]
        return request

    def test_is_a_source_profile_whose_definition_is_its_own(self, profile):
        assert isinstance(profile, SourceProfile)
        check_name("dataset", profile.name)
        d = profile.definition()
        assert isinstance(d, Dataset) and d.name == profile.name and d.source == profile.source
        assert d.upstream_dataset == profile.upstream_dataset and d.version == profile.definition_version >= 1
        assert d.variables and profile.cycles and all(0 <= h <= 23 for h in profile.cycles)
        assert profile.licence and profile.attribution(2025)
        str(RawKey(d.source, d.name, date(2025, 3, 12), "0190a8a0-0000-7000-8000-000000000000", d.ext))

    def test_the_template_carries_the_fixed_fields_and_passes_its_own_checks(self, profile):
        template = dict(profile.definition().request_template)
        for key, value in profile.fixed_fields.items():
            assert [str(v) for v in (template[key] if isinstance(template[key], list) else [template[key]])] == \
                [str(v) for v in value]
        profile.check_request(template)
        profile.check_variables(list(template.get("variable", profile.definition().variables)))

    def test_a_fixed_field_cannot_be_overridden(self, profile):
        for key in profile.fixed_fields:
            with pytest.raises(InvalidInput, match=key):
                profile.check_request({key: ["something-else"]})

    def test_unknown_fields_variables_and_the_date_are_refused_by_name(self, profile):
        with pytest.raises(InvalidInput, match="no-such-field"):
            profile.check_request({"no-such-field": ["x"]})
        with pytest.raises(InvalidInput, match="no-such-variable"):
            profile.check_variables(["no-such-variable"])
        with pytest.raises(InvalidInput, match="date"):
            profile.check_request({"date": ["2025-03-12"]})

    def test_the_horizon_is_not_after_tomorrow_and_not_before_the_first_day(self, profile):
        last = profile.available_until(NOW)
        assert profile.first_day <= last <= NOW.date() + timedelta(days=1)

    def test_every_variable_has_cf_units_and_a_long_name(self, profile):
        for variable in profile.definition().variables:
            attrs = profile.data_attributes(variable)
            assert attrs["units"] and attrs["long_name"]

    def test_the_synthetic_product_is_accepted_named_and_planned(self, profile, small_request):
        headers = scan(profile.synthetic_product(small_request), profile.grib_names)  # as jackfruit scans it
        verdict = acceptance.check(small_request, headers, profile)
        assert verdict.ok, verdict.reason
        named = [profile.name_message(m) for m in headers]  # every message named, none skipped
        assert len(named) == len(headers) == verdict.expected
        groups = plan_tiles(headers, profile.name_message, profile.time_axis)
        assert sum(len(g.message_indices) for g in groups) == len(headers)

    def test_the_names_it_declares_are_all_its_naming_reads(self, profile, small_request):
        """``grib_names`` are GRIB_NAMES, and a scan reporting only them names every message as a full scan does."""
        assert profile.grib_names <= GRIB_NAMES
        product = profile.synthetic_product(small_request)
        assert ([profile.name_message(m) for m in scan(product, profile.grib_names)]
                == [profile.name_message(m) for m in scan(product)])

    def test_the_request_read_back_from_the_product_asks_for_exactly_it(self, profile, small_request):
        headers = scan(profile.synthetic_product(small_request))
        derived = acceptance.request_from_headers(headers, profile)
        assert acceptance.check(derived, headers, profile).ok
        assert set(profile.expected_fields(derived)[0]) == set(profile.expected_fields(small_request)[0])

    def test_a_product_missing_a_message_is_not_accepted_and_names_what_is_missing(self, profile, small_request):
        headers = scan(profile.synthetic_product(small_request))
        verdict = acceptance.check(small_request, headers[1:], profile)
        assert not verdict.ok and verdict.missing and "missing" in verdict.reason

    def test_the_registry_finds_the_profile_by_name_and_by_its_upstream_answer(self, profile, small_request):
        registry = Registry([profile])
        assert registry.get(profile.name) is profile
        assert registry.for_upstream(profile.upstream_dataset, small_request) is profile
