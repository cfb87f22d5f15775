"""Face embedders that ship with the face pack: any ONNX file (ArcFace by name) and dlib's ResNet.

``onnx`` runs an ONNX face embedder on aligned square chips (112x112 unless the
model fixes another size; channel order and normalisation from ``FaceConfig``);
``dlib`` runs dlib's ResNet with its own 5-point alignment
(``pip install "imageprism-face[dlib]"``).
"""

__all__ = ["FaceModelLicenceWarning", "dlib", "onnx"]


class FaceModelLicenceWarning(UserWarning):
    """The default face embedder's weights (ArcFace) have no clear commercial licence.

    Given through ``warnings.warn`` the first time the default weights embed a face
    (Python shows a warning once per place by default). It names the alternatives:
    ``FaceConfig(embed_path=...)``, ``FaceConfig(embed_repo=..., embed_file=...)``, a
    face-embedder plugin (``FaceConfig(embedder=...)``) and ``FaceConfig(embedder="dlib")``.
    A company that has settled the question silences it by category::

        warnings.filterwarnings("ignore", category=imageprism_face.FaceModelLicenceWarning)

    or makes it an error with ``"error"`` instead of ``"ignore"``.
    """
