"""Thresholds: named presets measured on labelled data, and calibration on the user's own pairs.

``presets`` lists the registered presets (each says what it was measured on and
with which settings) and ``preset`` looks one up; ``calibrate`` fits a threshold
(and optionally weights) to labelled pairs and saves a calibration that
``load_calibration`` reads back (as untrusted input).
"""

__all__ = ["calibrate", "presets"]
