"""Conformance suites for face detectors and face embedders (needs pytest: the
``imageprism-core[testing]`` extra).

Subclass ``FaceDetectorContractTests`` or ``FaceEmbedderContractTests`` in your test
suite, set the component's registered name, and inherit every test::

    from imageprism_face.testing import FaceEmbedderContractTests

    class TestAcmeEmbedder(FaceEmbedderContractTests):
        embedder_name = "acme"
        config = {"detector": "yunet"}            # FaceConfig fields
        changed_configs = ({"embed_path": "other-weights.onnx"},)
        face_photos = sorted(Path("tests/faces").glob("*.jpg"))

Real faces: imageprism ships no face photos (it holds no licence to redistribute
any), so the checks that need a face read ``face_photos``: photos you may use, each
showing one clear face, of different people (six or so is plenty). Set it, or
override the ``face_images`` fixture to return ``(label, HxWx3 uint8 RGB array)``
pairs. Without either, those checks skip and say so; the checks that need no face
(synthetic images of several sizes, flat images without a face giving no face and
a ``None`` score) always run.

Every check raises ``AssertionError`` with a message stating the values.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

try:
    import pytest
except ImportError as _err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'imageprism_face.testing needs pytest: pip install "imageprism-core[testing]"',
        name=__name__,
    ) from _err

import numpy as np
from pydantic import BaseModel

from imageprism.io.images import prepare
from imageprism.plugin.testing import flat_arrays, sample_arrays
from imageprism_face.config import FaceConfig
from imageprism_face.dimension import DETECTION_SIDE, FaceDimension, face_plugins
from imageprism_face.faces import Face, FaceDetector, FaceEmbedder
from imageprism_face.specs import FaceDetectorSpec, FaceEmbedderSpec

__all__ = [
    "FACE_PHOTOS_HELP",
    "FaceDetectorContractTests",
    "FaceEmbedderContractTests",
    "check_detections",
    "check_face_vectors",
    "face_config",
    "face_images_or_skip",
    "load_face_photos",
    "no_face_arrays",
]

FACE_PHOTOS_HELP = (
    "the real-face checks need photos of faces: set face_photos = [paths] on your suite "
    "class (photos you may use, each showing one clear face, of different people) or "
    "override its face_images fixture; imageprism ships no face photos"
)
"""Why a real-face check skips when no photos were given."""

LabelledImage = tuple[str, np.ndarray]
"""A test image: how messages name it, and its HxWx3 ``uint8`` RGB pixels."""

_Spec = TypeVar("_Spec", FaceDetectorSpec, FaceEmbedderSpec)


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True  # pytest shows the failing check, not this helper
    raise AssertionError(message)


def _describe(vector: np.ndarray) -> str:
    shown = np.array2string(np.asarray(vector).ravel()[:6], precision=4, threshold=6)
    return f"{vector.dtype} shape {vector.shape}, starting {shown}"


def face_config(config: BaseModel | Mapping[str, Any] | None, **fields: Any) -> FaceConfig:
    """``config`` (a ``FaceConfig``, a dict of its fields or None) with ``fields`` set."""
    if isinstance(config, BaseModel):
        base = config.model_dump(exclude_unset=True)
    else:
        base = dict(config or {})
    return FaceConfig.model_validate({**base, **fields})


def no_face_arrays() -> dict[str, np.ndarray]:
    """Images in which no detector may find a face: flat ones and smooth gradients."""
    out = dict(flat_arrays())
    for name, array in sample_arrays().items():
        if name.startswith("gradient"):
            out[name] = array
    return out


def load_face_photos(paths: Sequence[str | Path]) -> list[LabelledImage]:
    """Decode photos as the face dimension gives them to detectors (shorter side about 640)."""
    return [(label, image.copy()) for label, image in _load(tuple(str(p) for p in paths))]


@functools.lru_cache(maxsize=4)
def _load(paths: tuple[str, ...]) -> tuple[LabelledImage, ...]:
    return tuple(
        (Path(path).name, np.asarray(prepare(Path(path)).array(min_side=DETECTION_SIDE)))
        for path in paths
    )


def face_images_or_skip(paths: Sequence[str | Path]) -> list[LabelledImage]:
    """``load_face_photos(paths)``, or skip the test with ``FACE_PHOTOS_HELP`` when empty."""
    if not paths:
        pytest.skip(FACE_PHOTOS_HELP)
    return load_face_photos(paths)


def _spec(kind: str, name: str, available: Mapping[str, _Spec], errors: Sequence[str]) -> _Spec:
    if not name:
        _fail(f"set the {kind}'s registered name on your contract test class")
    if name not in available:
        hint = f"; plugin errors: {'; '.join(errors)}" if errors else ""
        _fail(
            f"no face {kind} named {name!r} is registered; registered: "
            f"{', '.join(sorted(available)) or 'none'}{hint}"
        )
    spec = available[name]
    if spec.name != name:
        _fail(f"the face {kind} registered as {name!r} is named {spec.name!r} in its spec")
    if not spec.summary or "\n" in spec.summary:
        _fail(f"face {kind} {name!r}: summary must be one non-empty line, got {spec.summary!r}")
    if not callable(spec.factory):
        _fail(f"face {kind} {name!r}: factory must be callable, got {spec.factory!r}")
    return spec


def check_detections(detector: FaceDetector, label: str, image: np.ndarray) -> list[Face]:
    """Detect faces in ``image`` and check them: a list of ``Face``, best score first,
    boxes inside the image with a positive area, scores in [0, 1], landmarks None or
    5x2 finite points. Returns the faces."""
    name = detector.name
    height, width = image.shape[:2]
    faces = detector.detect(image)
    if not isinstance(faces, list):
        _fail(f"{name}: detect({label}) returned a {type(faces).__name__}, not a list of Face")
    scores = []
    for i, face in enumerate(faces):
        where = f"{name}: face {i} of {label} ({width}x{height})"
        if not isinstance(face, Face):
            _fail(f"{where} is a {type(face).__name__}, not an imageprism_face.Face")
        box = np.asarray(face.box, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            _fail(f"{where}: box must be 4 finite numbers (x1, y1, x2, y2), got {face.box!r}")
        x1, y1, x2, y2 = box
        if not (-1 <= x1 < x2 <= width + 1 and -1 <= y1 < y2 <= height + 1):
            _fail(
                f"{where}: box {face.box!r} is not inside the {width}x{height} image with "
                "x1 < x2 and y1 < y2 (clip boxes to the image)"
            )
        if not (isinstance(face.score, float | int) and 0.0 <= face.score <= 1.0):
            _fail(f"{where}: score {face.score!r} is not in [0, 1]")
        if face.landmarks is not None:
            points = np.asarray(face.landmarks)
            if points.shape != (5, 2) or not np.all(np.isfinite(points)):
                _fail(
                    f"{where}: landmarks must be None or 5x2 finite (x, y) points, got shape "
                    f"{points.shape}: {points.tolist()}"
                )
        scores.append(float(face.score))
    if scores != sorted(scores, reverse=True):
        _fail(f"{name}: faces of {label} must come best score first, got scores {scores}")
    return faces


def check_face_vectors(
    embedder: FaceEmbedder, label: str, image: np.ndarray, faces: Sequence[Face]
) -> list[np.ndarray]:
    """Embed ``faces`` of ``image`` and check: one 1-D float vector per face, finite and
    not all zero. Returns the vectors."""
    name = embedder.name
    vectors = list(embedder.embed_faces(image, faces))
    if len(vectors) != len(faces):
        _fail(f"{name}: embed_faces gave {len(vectors)} vectors for {len(faces)} faces of {label}")
    for i, vector in enumerate(vectors):
        where = f"{name}: the vector of face {i} of {label} (box {faces[i].box!r})"
        if not isinstance(vector, np.ndarray) or vector.ndim != 1:
            shape = getattr(vector, "shape", None)
            _fail(f"{where} is {type(vector).__name__} of shape {shape}: it must be a 1-D array")
        if not np.issubdtype(vector.dtype, np.floating):
            _fail(f"{where} is {vector.dtype}: face vectors are floats (compared by cosine)")
        if not np.all(np.isfinite(vector)):
            bad = int(np.count_nonzero(~np.isfinite(vector)))
            _fail(f"{where} has {bad} NaN or inf values: {_describe(vector)}")
        if not np.any(vector):
            _fail(f"{where} is all zeros ({_describe(vector)}): its cosine is undefined")
    return vectors


def _one_length(name: str, vectors: Mapping[str, np.ndarray]) -> None:
    lengths: dict[int, str] = {}
    for where, vector in vectors.items():
        lengths.setdefault(len(vector), where)
    if len(lengths) > 1:
        seen = "; ".join(f"{length} for {where}" for length, where in lengths.items())
        _fail(f"{name}: vector lengths vary with the image or face (they must not): {seen}")


def _differ(a: np.ndarray, b: np.ndarray) -> str | None:
    if a.shape != b.shape:
        return f"{_describe(a)} vs {_describe(b)}"
    if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
        gap = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        return f"largest difference {gap:.3g} ({_describe(a)} vs {_describe(b)})"
    return None


def _faces_key(faces: Sequence[Face]) -> list[tuple[Any, ...]]:
    return [
        (
            tuple(np.round(face.box, 3)),
            round(float(face.score), 5),
            None if face.landmarks is None else tuple(np.round(face.landmarks, 3).ravel()),
        )
        for face in faces
    ]


def _in_threads(work: Callable[[], Any], threads: int) -> list[Any]:
    """Run ``work`` in ``threads`` threads released at once; results or raised errors."""
    results: list[Any] = [None] * threads
    start = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work()
        except BaseException as err:  # reported by the caller, with the thread's number
            results[index] = err

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


class _ComponentContract:
    config: ClassVar[BaseModel | dict[str, Any] | None] = None
    changed_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    fingerprint_ignores_config: ClassVar[bool] = False
    face_photos: ClassVar[Sequence[str | Path]] = ()

    def _build(self, **fields: Any) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def face_images(self) -> list[LabelledImage]:
        """Real photos, each with one clear face, of different people (see ``face_photos``)."""
        return face_images_or_skip(self.face_photos)

    def test_fingerprint_is_stable_text(self) -> None:
        """Two components built from one config have the same non-empty fingerprint."""
        first, second = self._build().fingerprint, self._build().fingerprint
        if not isinstance(first, str) or not first:
            _fail(f"fingerprint must be a non-empty str, got {first!r}")
        if first != second:
            _fail(f"two components built from one config have fingerprints {first!r}, {second!r}")

    def test_fingerprint_changes_with_the_config(self) -> None:
        """Each of ``changed_configs`` changes the fingerprint."""
        if not self.changed_configs:
            if self.fingerprint_ignores_config:
                return  # nothing in FaceConfig changes this component's output
            pytest.skip(
                f"set changed_configs on {type(self).__name__} (FaceConfig changes that must "
                "change the fingerprint), or fingerprint_ignores_config = True when none does"
            )
        base = self._build().fingerprint
        for change in self.changed_configs:
            if self._build(**change).fingerprint == base:
                _fail(
                    f"the fingerprint stays {base!r} when the config changes by {dict(change)!r}; "
                    "it must change with anything that changes the output"
                )


class FaceDetectorContractTests(_ComponentContract):
    """The behaviour every face detector must have; subclass and set ``detector_name``.

    Attributes:
        detector_name: The registered name (``FaceConfig(detector=...)``).
        config: ``FaceConfig`` fields the detector is built from (e.g. ``detector_path``).
        changed_configs: Field changes each of which must change the fingerprint.
        fingerprint_ignores_config: True when no ``FaceConfig`` field changes the output.
        face_photos: Photos each showing one clear face (see the module's docstring).
    """

    detector_name: ClassVar[str] = ""

    def _build(self, **fields: Any) -> FaceDetector:
        spec = self._detector_spec()
        built: FaceDetector = spec.factory(face_config(self.config, **fields))
        return built

    def _detector_spec(self) -> FaceDetectorSpec:
        detectors, _, errors = face_plugins()
        return _spec("detector", self.detector_name, detectors, errors)

    @pytest.fixture
    def detector(self) -> FaceDetector:
        """The detector built from ``config``."""
        return self._build()

    def test_spec_is_complete(self) -> None:
        """Registered under its name, with a one-line summary and a factory."""
        self._detector_spec()

    def test_detector_implements_the_protocol(self, detector: FaceDetector) -> None:
        """A ``FaceDetector`` with its registered name and a fingerprint."""
        if not isinstance(detector, FaceDetector):
            _fail(
                f"{type(detector).__name__} does not implement FaceDetector (name, "
                "fingerprint, detect)"
            )
        if detector.name != self.detector_name:
            _fail(f"the detector registered as {self.detector_name!r} is named {detector.name!r}")

    def test_any_size_gives_valid_faces_and_no_face_in_flat_images(
        self, detector: FaceDetector
    ) -> None:
        """Images of every sample size (1x1, 17x1200...) give valid results; flat images
        and smooth gradients give no face."""
        for label, image in sample_arrays().items():
            check_detections(detector, label, image)
        for label, image in no_face_arrays().items():
            faces = check_detections(detector, label, image)
            if faces:
                _fail(
                    f"{detector.name}: found {len(faces)} faces in {label}, which has none "
                    f"(first: box {faces[0].box!r}, score {faces[0].score!r})"
                )

    def test_the_face_dimension_scores_none_without_a_face(self) -> None:
        """With this detector, the face dimension embeds an image without a face as None."""
        dimension = FaceDimension(face_config(self.config, detector=self.detector_name))
        images = [prepare(array) for array in no_face_arrays().values()]
        got = dimension.embed_batch(images)
        if got != [None] * len(images):
            _fail(f"the face dimension gave {got!r} for {len(images)} images without a face")

    def test_finds_a_face_in_each_face_photo(
        self, detector: FaceDetector, face_images: list[LabelledImage]
    ) -> None:
        """Each real face photo yields at least one valid face."""
        missed = [
            label for label, image in face_images if not check_detections(detector, label, image)
        ]
        if missed:
            _fail(f"{detector.name}: no face found in {len(missed)} face photos: {missed}")

    def test_detection_is_deterministic(
        self, detector: FaceDetector, face_images: list[LabelledImage]
    ) -> None:
        """The same photo detected twice gives the same faces."""
        for label, image in face_images:
            first, second = detector.detect(image), detector.detect(image.copy())
            if _faces_key(first) != _faces_key(second):
                _fail(f"{detector.name}: {label} detected twice: {first!r} vs {second!r}")

    def test_detection_is_thread_safe(
        self, detector: FaceDetector, face_images: list[LabelledImage]
    ) -> None:
        """Four threads detecting at once find what a serial run finds."""
        serial = [_faces_key(detector.detect(image)) for _, image in face_images]
        results = _in_threads(
            lambda: [_faces_key(detector.detect(image.copy())) for _, image in face_images], 4
        )
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                _fail(
                    f"{detector.name}: detect raised in thread {index} of 4 at once: "
                    f"{type(result).__name__}: {result}"
                )
            for (label, _), alone, together in zip(face_images, serial, result, strict=True):
                if alone != together:
                    _fail(
                        f"{detector.name}: {label} in 4 threads at once (thread {index}) "
                        f"gives {together}, alone {alone}"
                    )


class FaceEmbedderContractTests(_ComponentContract):
    """The behaviour every face embedder must have; subclass and set ``embedder_name``.

    Faces in ``face_photos`` are found with the detector that ``config`` names (the
    default detector unless you set ``detector`` and ``detector_path``).

    Attributes:
        embedder_name: The registered name (``FaceConfig(embedder=...)``).
        config: ``FaceConfig`` fields the embedder (and the detector) is built from.
        changed_configs: Field changes each of which must change the fingerprint.
        fingerprint_ignores_config: True when no ``FaceConfig`` field changes the output.
        face_photos: Photos each showing one clear face, of different people.
    """

    embedder_name: ClassVar[str] = ""

    def _build(self, **fields: Any) -> FaceEmbedder:
        spec = self._embedder_spec()
        built: FaceEmbedder = spec.factory(
            face_config(self.config, embedder=self.embedder_name, **fields)
        )
        return built

    def _embedder_spec(self) -> FaceEmbedderSpec:
        _, embedders, errors = face_plugins()
        return _spec("embedder", self.embedder_name, embedders, errors)

    def _dimension(self) -> FaceDimension:
        return FaceDimension(face_config(self.config, embedder=self.embedder_name))

    @pytest.fixture
    def embedder(self) -> FaceEmbedder:
        """The embedder built from ``config``."""
        return self._build()

    @pytest.fixture
    def faces(self, face_images: list[LabelledImage]) -> list[tuple[str, np.ndarray, Face]]:
        """``(label, image, largest face)`` of each face photo, found by the config's detector."""
        detector = self._dimension().detector
        out = []
        for label, image in face_images:
            found = detector.detect(image)
            if not found:
                _fail(f"the {detector.name} detector found no face in {label}")
            out.append((label, image, max(found, key=lambda face: face.area)))
        return out

    def test_spec_is_complete(self) -> None:
        """Registered under its name, with a one-line summary and a factory."""
        self._embedder_spec()

    def test_embedder_implements_the_protocol(self, embedder: FaceEmbedder) -> None:
        """A ``FaceEmbedder`` with its registered name and a fingerprint."""
        if not isinstance(embedder, FaceEmbedder):
            _fail(
                f"{type(embedder).__name__} does not implement FaceEmbedder (name, "
                "fingerprint, embed_faces)"
            )
        if embedder.name != self.embedder_name:
            _fail(f"the embedder registered as {self.embedder_name!r} is named {embedder.name!r}")

    def test_no_faces_give_no_vectors(self, embedder: FaceEmbedder) -> None:
        """``embed_faces(image, [])`` is ``[]``."""
        got = list(embedder.embed_faces(np.zeros((48, 64, 3), dtype=np.uint8), []))
        if got:
            _fail(f"{embedder.name}: embed_faces(image, []) gave {len(got)} vectors, not []")

    def test_any_image_size_and_box_gives_vectors_of_one_length(
        self, embedder: FaceEmbedder
    ) -> None:
        """Boxes (with and without landmarks) on images of every sample size, 1x1 too, give
        valid vectors of one length."""
        vectors: dict[str, np.ndarray] = {}
        for label, image in sample_arrays().items():
            height, width = image.shape[:2]
            box = (width / 4, height / 4, width * 3 / 4, height * 3 / 4)
            if width < 4 or height < 4:
                box = (0.0, 0.0, float(width), float(height))
            x1, y1, x2, y2 = box
            w, h = x2 - x1, y2 - y1
            points = np.array(
                [[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.38, 0.75], [0.62, 0.75]]
            ) * [w, h] + [x1, y1]
            for face in (Face(box, 0.9), Face(box, 0.9, points)):
                kind = "with landmarks" if face.landmarks is not None else "a box only"
                where = f"{label}, {kind}"
                (vector,) = check_face_vectors(embedder, where, image, [face])
                vectors[f"{where} (box {box})"] = vector
        _one_length(embedder.name, vectors)

    def test_real_faces_give_valid_vectors_in_order(
        self, embedder: FaceEmbedder, faces: list[tuple[str, np.ndarray, Face]]
    ) -> None:
        """One valid vector per face, of one length; several faces at once give what each
        gives alone."""
        vectors: dict[str, np.ndarray] = {}
        for label, image, face in faces:
            (alone,) = check_face_vectors(embedder, label, image, [face])
            vectors[label] = alone
            shifted = Face(
                (face.box[0] + 2, face.box[1] + 2, face.box[2] - 2, face.box[3] - 2), face.score
            )
            together = check_face_vectors(embedder, label, image, [face, shifted])
            why = _differ(alone, together[0])
            if why:
                _fail(
                    f"{embedder.name}: the face of {label} embedded alone and with another "
                    f"face differ: {why}"
                )
        _one_length(embedder.name, vectors)

    def test_real_faces_are_told_apart(
        self, embedder: FaceEmbedder, faces: list[tuple[str, np.ndarray, Face]]
    ) -> None:
        """Faces of different people do not all score (cosine) 0.99 or more."""
        if len(faces) < 2:
            _fail(f"give at least two face photos of different people, got {len(faces)}")
        vectors = [
            (label, embedder.embed_faces(image, [face])[0].astype(np.float64))
            for label, image, face in faces
        ]
        cosines = {
            f"{a} / {b}": float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
            for i, (a, u) in enumerate(vectors)
            for b, v in vectors[i + 1 :]
        }
        if all(value >= 0.99 for value in cosines.values()):
            _fail(
                f"{embedder.name}: every pair of the {len(faces)} face photos scored at least "
                f"0.99 (lowest {round(min(cosines.values()), 6)}): the embedder does not tell "
                "faces apart"
            )

    def test_embedding_is_deterministic(
        self, embedder: FaceEmbedder, faces: list[tuple[str, np.ndarray, Face]]
    ) -> None:
        """The same face embedded twice gives the same vector (the first three faces)."""
        for label, image, face in faces[:3]:
            first = embedder.embed_faces(image, [face])[0]
            second = embedder.embed_faces(image.copy(), [face])[0]
            why = _differ(first, second)
            if why:
                _fail(f"{embedder.name}: the face of {label} embedded twice differs: {why}")

    def test_embedding_is_thread_safe(
        self, embedder: FaceEmbedder, faces: list[tuple[str, np.ndarray, Face]]
    ) -> None:
        """Four threads embedding at once get what a serial run gets (the first three faces)."""
        faces = faces[:3]
        serial = [embedder.embed_faces(image, [face])[0] for _, image, face in faces]
        results = _in_threads(
            lambda: [embedder.embed_faces(image.copy(), [face])[0] for _, image, face in faces],
            4,
        )
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                _fail(
                    f"{embedder.name}: embed_faces raised in thread {index} of 4 at once: "
                    f"{type(result).__name__}: {result}"
                )
            for (label, _, _), alone, together in zip(faces, serial, result, strict=True):
                why = _differ(alone, together)
                if why:
                    _fail(
                        f"{embedder.name}: the face of {label} in 4 threads at once "
                        f"(thread {index}) differs from a serial run: {why}"
                    )

    def test_the_face_dimension_scores_a_face_one_with_itself_and_none_without(
        self, face_images: list[LabelledImage]
    ) -> None:
        """With this embedder, a face photo scores 1.0 with itself, a flat image None."""
        dimension = self._dimension()
        label, photo = face_images[0]
        flat = next(iter(flat_arrays().values()))
        embedded = dimension.embed_batch([prepare(photo), prepare(photo.copy()), prepare(flat)])
        first, again, none = embedded
        if first is None or again is None:
            _fail(
                f"the face dimension found no face in {label} with embedder {self.embedder_name!r}"
            )
        score = dimension.similarity(first, again)
        if abs(score - 1.0) > 1e-5:
            _fail(f"{self.embedder_name}: {label} scores {score!r} with itself, not 1.0")
        if none is not None:
            _fail(f"the face dimension embedded a flat image as {_describe(none)}, not None")
