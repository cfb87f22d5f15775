"""imageprism face pack: face detectors and embedders behind the face dimension."""

from imageprism_face._version import __version__
from imageprism_face.config import FaceConfig
from imageprism_face.embedders import FaceModelLicenceWarning
from imageprism_face.faces import Face, FaceDetector, FaceEmbedder
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

__all__ = [
    "Face",
    "FaceConfig",
    "FaceDetector",
    "FaceDetectorSpec",
    "FaceEmbedder",
    "FaceEmbedderSpec",
    "FaceModelLicenceWarning",
    "__version__",
]
