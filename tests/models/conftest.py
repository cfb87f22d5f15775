"""Model tests run against the local hub stand-in with isolated caches."""

from hub_fixtures import hub, isolated_caches  # noqa: F401  (fixtures)
