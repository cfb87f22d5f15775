"""Reading and writing: images, folders of images, videos, the embedding store, atomic files.

``images`` turns any supported input into a ``PreparedImage`` that decodes lazily,
once per scale; ``folders`` walks folders for images (links kept inside);
``video`` samples frames; ``store`` keeps embeddings across runs in SQLite
(``sqlite``); ``atomic`` writes files so a crash never leaves half of one;
``names`` prints file names safely (control characters escaped).
Everything read back from disk is treated as untrusted input.
"""

__all__ = ["atomic", "folders", "images", "names", "sqlite", "store", "video"]
