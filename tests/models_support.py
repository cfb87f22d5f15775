"""Helpers for model tests: publishing tiny models on the local hub stand-in."""

from __future__ import annotations

import hashlib

from hubstub import HubStub


def publish(hub: HubStub, repo: str, filename: str, data: bytes, **kwargs: object) -> dict:
    """Put ``data`` on the hub and return the config fields that pin it."""
    commit = hub.add_file(repo, filename, data, **kwargs)
    return {
        "repo_id": repo,
        "filename": filename,
        "revision": commit,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
