"""Use case: register the datasets of the source profiles in the catalog (each definition with its version)."""

from __future__ import annotations

from jackfruit.domain.model import Dataset
from jackfruit.ports import Catalog
from jackfruit.ports.source import Profiles


def register_dataset(catalog: Catalog, dataset: Dataset) -> Dataset:
    """Register ``dataset``: idempotent for an identical definition, a newer version replaces the stored one, an
    older one leaves it (``Conflict`` for a different definition under the same version)."""
    catalog.add_dataset(dataset)
    return dataset


def register_profiles(catalog: Catalog, profiles: Profiles) -> list[Dataset]:
    """Every registered profile's definition, so ``jackfruit datasets`` lists them before anything was ingested."""
    return [register_dataset(catalog, p.definition()) for p in profiles.all()]
