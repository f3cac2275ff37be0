"""Source profiles: one package per dataset (``jackfruit.ports.source.SourceProfile``), each registered under the
``jackfruit.sources`` entry-point group (``pyproject.toml``) and reached by the core only through
``jackfruit.registry``. How to add one: docs/sources.md."""
