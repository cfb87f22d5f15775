"""Dimensions that ship with imageprism-core (registered through entry points like any plugin)."""
