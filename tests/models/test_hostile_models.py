"""Model files read back from the caches are untrusted: derived copies and cached pinned files.

An attacker who can write the cache folder may plant a graph at a derived path (the style copy
with block outputs, the fixed-size copy) or rewrite a cached pinned file; neither may change
what a dimension computes, and a tampered pinned file is an error naming it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import onnx_builders
import pytest
from models_support import publish
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import imageprism.runtime.hub as hub_module
import imageprism.runtime.onnx as onnx_module
from imageprism import ConfigError, ImagePrism, ModelFileError, prepare
from imageprism.io.store import EmbeddingStore
from imageprism.runtime.hub import (
    MAX_IMAGES_PER_CALL,
    MAX_INTRA_OP_THREADS,
    ModelConfig,
    ModelFile,
    derived_dir,
    file_sha256,
    resolve_model_file,
)
from imageprism_models.style import BLOCKS, StyleConfig, StyleDimension, with_block_outputs

CLIP = onnx_builders.clip_vision()
FILE = "onnx/vision_model_quantized.onnx"


def _photo(seed: int) -> np.ndarray:
    """A picture of coloured blocks, its own size of block for each seed (noise all looks alike)."""
    rng = np.random.default_rng(seed)
    cells = int(rng.integers(2, 12))
    small = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    smooth = Image.Resampling.NEAREST if seed % 2 else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(small).resize((160, 120), smooth))


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what this process verified, derived and loaded, as a fresh process would."""
    monkeypatch.setattr(hub_module, "_verified", {})
    monkeypatch.setattr(hub_module, "_derived", {})
    monkeypatch.setattr(hub_module, "_refused", {})
    monkeypatch.setattr(onnx_module, "_sessions", {})


def _constant_graph(input_name: str, outputs: dict[str, tuple[int, ...]]) -> bytes:
    """A graph whose outputs are the same for every input (the batch axis follows the input)."""
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=1),  # [n, 1, 1, 1]
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    initializers = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    for name, shape in outputs.items():
        nodes.append(helper.make_node("Add", ["nothing", f"{name}_value"], [name]))
        value = rng.uniform(0.5, 1.5, (1, *shape)).astype(np.float32)
        initializers.append(numpy_helper.from_array(value, f"{name}_value"))
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["n", 3, 224, 224])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def _style_source(tmp_path: Path) -> Path:
    """The stand-in MobileNetV2 without block outputs (its block tensors renamed)."""
    model = onnx.load_from_string(onnx_builders.mobilenetv2_multi())
    keep = [o for o in model.graph.output if o.name not in BLOCKS]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    for node in model.graph.node:
        node.input[:] = [f"t_{n}" if n in BLOCKS else n for n in node.input]
        node.output[:] = [f"t_{n}" if n in BLOCKS else n for n in node.output]
    path = tmp_path / "mobilenetv2-no-blocks.onnx"
    onnx.save(model, str(path))
    return path


def _instance_source(tmp_path: Path) -> Path:
    return onnx_builders.save(
        onnx_builders.dinov2(interpolated_positions=True), tmp_path / "dinov2.onnx"
    )


def _score(prism: ImagePrism, name: str) -> float:
    return float(prism.compare(_photo(1), _photo(2)).scores[name])


@pytest.fixture
def style_source(tmp_path: Path) -> Path:
    return _style_source(tmp_path)


# Derived copies ---------------------------------------------------------------------------


def test_a_planted_style_copy_with_constant_outputs_is_rebuilt_and_not_used(
    style_source, monkeypatch, capsys
):
    config = {"style": {"model_path": str(style_source)}}
    honest = _score(ImagePrism(["style"], config=config), "style")
    (copy,) = derived_dir("style").glob("*.onnx")
    genuine = copy.read_bytes()
    planted = _constant_graph("input", BLOCKS)
    copy.write_bytes(planted)
    _new_process(monkeypatch)
    capsys.readouterr()

    prism = ImagePrism(["style"], config=config)
    assert prism.dimension("style").fingerprint
    score = _score(prism, "style")

    assert score < 0.999 and score == pytest.approx(honest, abs=1e-6)
    assert copy.read_bytes() == genuine
    assert f"derived model file {copy} differs" in capsys.readouterr().err


def test_a_planted_fixed_size_copy_with_constant_outputs_is_rebuilt_and_not_used(
    tmp_path, monkeypatch, capsys
):
    source = _instance_source(tmp_path)
    config = {"instance": {"model_path": str(source)}}
    honest = _score(ImagePrism(["instance"], config=config), "instance")
    (copy,) = derived_dir("fixed-size").glob("*.onnx")
    genuine = copy.read_bytes()
    copy.write_bytes(_constant_graph("pixel_values", {"last_hidden_state": (257, 384)}))
    _new_process(monkeypatch)
    capsys.readouterr()

    score = _score(ImagePrism(["instance"], config=config), "instance")

    assert score < 0.999 and score == pytest.approx(honest, abs=1e-6)
    assert copy.read_bytes() == genuine
    assert f"derived model file {copy} differs" in capsys.readouterr().err


def test_a_copy_planted_before_first_use_is_replaced_on_first_use(style_source, capsys):
    target = derived_dir("style") / f"{file_sha256(style_source)}.onnx"
    target.write_bytes(_constant_graph("input", BLOCKS))
    assert (
        _score(ImagePrism(["style"], config={"style": {"model_path": str(style_source)}}), "style")
        < 0.999
    )
    assert target.read_bytes() != _constant_graph("input", BLOCKS)
    assert "differs from the copy built again" in capsys.readouterr().err


def test_a_derived_copy_rewritten_while_the_process_runs_is_checked_again(style_source):
    config = {"style": {"model_path": str(style_source)}}
    ImagePrism(["style"], config=config).embed(_photo(1))
    (copy,) = derived_dir("style").glob("*.onnx")
    genuine = copy.read_bytes()
    copy.write_bytes(_constant_graph("input", BLOCKS))
    # a new prism with other threads opens a new session of the file: it must be the genuine one
    prism = ImagePrism(["style"], config={"style": {**config["style"], "intra_op_threads": 1}})
    assert _score(prism, "style") < 0.999
    assert copy.read_bytes() == genuine


def test_a_genuine_derived_copy_is_used_as_is_without_a_warning(style_source, monkeypatch, capsys):
    config = {"style": {"model_path": str(style_source)}}
    ImagePrism(["style"], config=config).embed(_photo(1))
    (copy,) = derived_dir("style").glob("*.onnx")
    before = copy.stat()
    _new_process(monkeypatch)
    capsys.readouterr()
    prism = ImagePrism(["style"], config=config)
    prism.embed(_photo(2))
    assert prism._dimensions["style"].model.path == copy
    after = copy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "warning" not in capsys.readouterr().err


def test_a_derived_path_that_is_a_link_is_replaced_by_a_file(style_source, tmp_path):
    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(_constant_graph("input", BLOCKS))
    target = derived_dir("style") / f"{file_sha256(style_source)}.onnx"
    target.symlink_to(elsewhere)
    prism = ImagePrism(["style"], config={"style": {"model_path": str(style_source)}})
    assert _score(prism, "style") < 0.999
    assert not target.is_symlink() and elsewhere.read_bytes() == _constant_graph("input", BLOCKS)


def test_the_fingerprint_covers_the_derived_copy_the_model_runs(style_source, tmp_path):
    config = StyleConfig(model_path=style_source)
    genuine = StyleDimension(config).fingerprint
    planted = tmp_path / "planted.onnx"
    planted.write_bytes(_constant_graph("input", BLOCKS))
    running_planted = StyleDimension(config)
    running_planted.model.transform = lambda path: planted
    assert running_planted.fingerprint != genuine
    assert StyleDimension(config).fingerprint == genuine  # stable for the genuine copy


def test_the_fingerprint_with_a_planted_copy_in_place_is_the_genuine_one(style_source, monkeypatch):
    config = StyleConfig(model_path=style_source)
    genuine = StyleDimension(config).fingerprint
    (copy,) = derived_dir("style").glob("*.onnx")
    copy.write_bytes(_constant_graph("input", BLOCKS))
    _new_process(monkeypatch)
    assert StyleDimension(config).fingerprint == genuine


def test_stored_embeddings_of_another_derived_copy_are_not_reused(style_source, tmp_path):
    config = {"style": {"model_path": str(style_source)}}
    store_path = tmp_path / "store.sqlite"
    prism = ImagePrism(["style"], config=config, store=EmbeddingStore(store_path))
    dimension = prism._dimensions["style"]
    # what a run with a planted copy stored (under the fingerprint it had then)
    planted = tmp_path / "planted.onnx"
    planted.write_bytes(_constant_graph("input", BLOCKS))
    poisoned = StyleDimension(StyleConfig(model_path=style_source))
    poisoned.model.transform = lambda path: planted
    digest = prepare(_photo(3)).digest
    prism.store.put_many(poisoned.fingerprint, {digest: np.ones(304, np.float32) / np.sqrt(304)})
    assert dimension.fingerprint != poisoned.fingerprint
    assert prism.store.lookup_many(dimension.fingerprint, {digest}) == {}


# Cached pinned files ------------------------------------------------------------------------


def _pull(hub) -> tuple[ModelFile, Path]:
    config = publish(hub, "test/clip", FILE, CLIP)
    model = ModelFile(**config)
    return model, resolve_model_file(model)


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, another sha256
    stat = path.stat()
    path.resolve().write_bytes(bytes(data))
    os.utime(path.resolve(), ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime set back


def test_a_cached_pinned_file_tampered_after_first_use_is_refused_in_a_new_process(
    hub, monkeypatch
):
    model, path = _pull(hub)
    _tamper(path)
    _new_process(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError, match="failed verification") as info:
        resolve_model_file(model)
    assert str(path) in str(info.value) and model.describe() in str(info.value)


def test_a_cached_pinned_file_tampered_while_the_process_runs_is_refused(hub, monkeypatch):
    model, path = _pull(hub)
    assert resolve_model_file(model) == path  # verified and remembered
    _tamper(path)  # same size, same mtime: only the content and the ctime change
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError, match="failed verification") as info:
        resolve_model_file(model)
    assert str(path) in str(info.value)


def test_a_tampered_pinned_file_stays_a_verification_error_after_it_is_deleted(hub, monkeypatch):
    model, path = _pull(hub)
    _tamper(path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError, match="failed verification.*deleted"):
        resolve_model_file(model)
    with pytest.raises(ModelFileError, match="failed verification") as again:
        resolve_model_file(model)
    assert str(path) in str(again.value) and "deleted by an earlier load" in str(again.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert resolve_model_file(model).read_bytes() == CLIP  # pulled again: fine again


@pytest.mark.parametrize("round_", range(4))
def test_threads_loading_one_tampered_pinned_file_all_report_the_verification_failure(
    hub, monkeypatch, round_
):
    model, path = _pull(hub)
    _tamper(path)
    _new_process(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pin = {"repo_id": model.repo_id, "filename": model.filename}
    pin |= {"revision": model.revision, "sha256": model.sha256}
    threads = 4
    start = threading.Barrier(threads)
    errors: list[BaseException | None] = [None] * threads

    def load(index: int) -> None:
        start.wait()
        try:
            ImagePrism(["semantic"], config={"semantic": pin}).embed(_photo(index))
        except BaseException as err:
            errors[index] = err

    workers = [threading.Thread(target=load, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for error in errors:
        assert isinstance(error, ModelFileError), error
        assert "failed verification" in str(error) and str(path) in str(error)


# Resource bounds in the config ---------------------------------------------------------------


def test_threads_and_images_per_call_are_bounded_in_the_config():
    assert ModelConfig(intra_op_threads=MAX_INTRA_OP_THREADS).intra_op_threads == 64
    assert ModelConfig(images_per_call=MAX_IMAGES_PER_CALL).images_per_call == 256
    with pytest.raises(ValueError, match="less than or equal to 64"):
        ModelConfig(intra_op_threads=65)
    with pytest.raises(ValueError, match="less than or equal to 256"):
        ModelConfig(images_per_call=10**9)
    with pytest.raises(ConfigError, match="intra_op_threads"):
        ImagePrism(["style"], config={"style": {"intra_op_threads": 100_000}})


def test_a_copy_derived_by_another_process_is_used_as_is(style_source, monkeypatch, capsys):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = (
        "import sys; from pathlib import Path; "
        "from imageprism_models.style import with_block_outputs; "
        "print(with_block_outputs(Path(sys.argv[1])))"
    )
    made = subprocess.run(
        [sys.executable, "-c", script, str(style_source)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    copy = Path(made.stdout.strip())
    assert copy.parent == derived_dir("style") and made.stderr == ""
    before = copy.stat()
    assert with_block_outputs(style_source) == copy  # built again here: the same bytes
    assert copy.stat().st_ino == before.st_ino and "warning" not in capsys.readouterr().err


def test_a_derived_copy_rewritten_after_its_check_is_never_loaded(style_source):
    prism = ImagePrism(["style"], config={"style": {"model_path": str(style_source)}})
    model = prism._dimensions["style"].model
    assert model.session is not None  # checked and loaded
    model.path.write_bytes(_constant_graph("input", BLOCKS))
    model.intra_op_threads = 1  # a second session of the same file, as batch calls open
    with pytest.raises(ModelFileError, match="changed after it was verified") as info:
        model.session  # noqa: B018
    assert str(model.path) in str(info.value)


def test_a_refused_file_of_another_cache_folder_does_not_change_the_not_cached_message(
    hub, monkeypatch, tmp_path
):
    model, path = _pull(hub)
    _tamper(path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError, match="failed verification"):
        resolve_model_file(model)
    monkeypatch.setenv("IMAGEPRISM_CACHE_DIR", str(tmp_path / "another-cache"))
    with pytest.raises(ModelFileError, match="is not cached") as info:
        resolve_model_file(model)
    assert "failed verification" not in str(info.value)


def test_dedup_delete_with_a_planted_style_copy_deletes_no_unrelated_photo(
    style_source, tmp_path, capsys
):
    from imageprism.cli import main

    library = tmp_path / "library"
    library.mkdir()
    for number in range(8):
        Image.fromarray(_photo(10 + number)).save(library / f"photo{number}.png")
    target = derived_dir("style") / f"{file_sha256(style_source)}.onnx"
    target.write_bytes(_constant_graph("input", BLOCKS))
    argv = ["dedup", str(library), "--dimensions", "style"]
    argv += ["--set", f"style.model_path={style_source}", "--threshold", "0.999"]
    argv += ["--action", "delete", "--yes-delete", "--to", str(tmp_path / "deleted")]
    argv += ["--store", str(tmp_path / "store.sqlite"), "--json"]
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in library.iterdir()) == [f"photo{n}.png" for n in range(8)]


def test_a_rebuilt_derived_copy_gets_the_usual_permissions(style_source):
    old = os.umask(0o027)
    try:
        with_block_outputs(style_source)
    finally:
        os.umask(old)
    (copy,) = derived_dir("style").glob("*.onnx")
    assert copy.stat().st_mode & 0o777 == 0o640
