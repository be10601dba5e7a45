"""No code from a model file: formats by content, Keras configs checked before loading, SavedModels
only when trusted, bundles that stay inside themselves."""

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, read_bundle, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.keras_io import load_keras
from edgeopt.common.modelfile import check_loadable, model_format, sniff, trusting
from edgeopt.common.float_source import bundle_from_path

from hostile import lambda_model


def test_hdf5_renamed_to_keras_is_read_by_content_and_refused(tmp_path, lambda_h5, marker):
    disguised = tmp_path / "innocent.keras"
    shutil.copyfile(lambda_h5, disguised)
    assert sniff(disguised) == ("keras", "h5")
    with pytest.raises(EdgeoptError, match="Lambda layer, whose code would run"):
        load_keras(disguised)
    assert not marker.exists()


def test_zip_keras_with_lambda_is_refused_before_loading(tmp_path, marker):
    path = tmp_path / "lambda.keras"
    lambda_model(marker).save(path)
    marker.unlink(missing_ok=True)
    for name in ("lambda.keras", "renamed.h5", "no_suffix"):
        target = tmp_path / name
        if not target.exists():
            shutil.copyfile(path, target)
        with pytest.raises(EdgeoptError, match="Lambda layer"):
            load_keras(target)
    assert not marker.exists()


def test_tf_op_called_by_name_is_refused(tmp_path):
    from edgeopt.common.tfenv import keras, tf

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(tf.math.multiply(inputs, 2.0)))
    path = tmp_path / "tfop.h5"
    model.save(path)
    with pytest.raises(EdgeoptError, match="TFOpLambda layer"):
        load_keras(path)


def test_unregistered_custom_layer_is_refused(tmp_path):
    from edgeopt.common.tfenv import keras

    @keras.utils.register_keras_serializable(package="mine")
    class Doubler(keras.layers.Layer):
        def call(self, t):
            return t * 2

    model = keras.Sequential([keras.layers.Input((4,)), Doubler(), keras.layers.Dense(2)])
    for name in ("custom.keras", "custom.h5"):
        model.save(tmp_path / name)
    assert type(load_keras(tmp_path / "custom.keras").layers[0]).__name__ == "Doubler"  # registered: allowed
    keras.saving.get_custom_objects().pop("mine>Doubler")  # as in a process that never imported it
    for name in ("custom.keras", "custom.h5"):
        with pytest.raises(EdgeoptError, match="not a built-in Keras class|which is not Keras"):
            load_keras(tmp_path / name)


def test_a_module_outside_keras_in_the_zip_config_is_refused(tmp_path, digits_model_file):
    path = tmp_path / "module.keras"
    with zipfile.ZipFile(digits_model_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["module"] = "os"
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(EdgeoptError, match="from the Python module 'os'"):
        load_keras(path)


def test_safe_keras_loads_under_any_name(tmp_path, digits_model_file):
    renamed = tmp_path / "digits.h5"
    shutil.copyfile(digits_model_file, renamed)
    assert sniff(renamed) == ("keras", "zip")
    model = load_keras(renamed)
    assert model.output_shape == (None, 10)


def test_savedmodel_needs_trust(tmp_path, digits_model_file):
    saved = tmp_path / "digits_savedmodel"
    load_keras(digits_model_file).save(saved, save_format="tf")
    with pytest.raises(EdgeoptError, match="--trust-model"):
        check_loadable(saved)
    with pytest.raises(EdgeoptError, match="SavedModel, whose graph runs as stored"):
        load_keras(saved)
    with trusting(True):
        assert load_keras(saved).output_shape == (None, 10)
    with pytest.raises(EdgeoptError, match="--trust-model"):  # trust ends with the block
        load_keras(saved)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00garbage" * 50, "cannot tell what"),
    (b"PK\x03\x04 truncated zip", "not a readable Keras file"),
    (b"\x89HDF\r\n\x1a\n truncated", "not a readable Keras file"),
])
def test_broken_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(EdgeoptError, match=message):
        load_keras(path)


def test_empty_onnx_and_tflite_files(tmp_path):
    for name in ("model.onnx", "model.tflite"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(EdgeoptError, match="empty"):
            bundle_from_path(tmp_path / name, tmp_path / name.replace(".", "_"))


def test_formats_are_told_by_content_on_real_models(mlperf):
    assert model_format(mlperf / "ic" / "resnet8_float.h5") == "keras"
    assert model_format(mlperf / "ic" / "resnet8_int8_reference.tflite") == "tflite"
    assert model_format(mlperf / "kws" / "dscnn_kws_savedmodel") == "savedmodel"
    for path in (mlperf / "ic" / "resnet8_float.h5", mlperf / "vww" / "mobilenet_v1_025_vww96_float.h5",
                 mlperf / "ad" / "autoencoder_toycar_float.h5"):
        check_loadable(path)  # the MLPerf Tiny Keras models hold built-in layers only


def test_a_link_as_model_is_refused(tmp_path, digits_model_file):
    link = tmp_path / "link.keras"
    link.symlink_to(digits_model_file)
    with pytest.raises(EdgeoptError, match="symbolic link"):
        check_loadable(link)


@pytest.fixture
def bundle(tmp_path, digits_model_file) -> Path:
    path = tmp_path / "bundle"
    path.mkdir()
    shutil.copyfile(digits_model_file, path / "model.keras")
    write_bundle(path, ModelInfo(format="keras", file="model.keras", input_shape=[None, 8, 8, 1]))
    return path


def edit_metadata(bundle: Path, **changes) -> None:
    meta = json.loads((bundle / "model.json").read_text())
    meta.update(changes)
    (bundle / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("file", ["../outside.keras", "/etc/passwd", "", "sub/../../x"])
def test_bundle_may_not_name_a_file_outside_itself(bundle, file):
    edit_metadata(bundle, file=file)
    with pytest.raises(EdgeoptError, match="not a path inside the bundle"):
        read_bundle(bundle)


def test_bundle_with_a_link_is_refused(bundle, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("service-account-token")
    (bundle / "extra").symlink_to(secret)
    with pytest.raises(EdgeoptError, match="symbolic link"):
        read_bundle(bundle)


def test_bundle_naming_a_lambda_model_is_refused(bundle, lambda_h5, marker):
    shutil.copyfile(lambda_h5, bundle / "model.keras")
    with pytest.raises(EdgeoptError, match="Lambda layer"):
        load_keras(read_bundle(bundle)[1])
    assert not marker.exists()


def test_multi_input_models_are_refused(tmp_path, digits_npz):
    from edgeopt.common.tfenv import keras
    from edgeopt.ingest.core import ingest

    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    merged = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    path = tmp_path / "two.keras"
    keras.Model([a, b], keras.layers.Dense(10)(merged)).save(path)
    with pytest.raises(EdgeoptError, match="2 inputs and 1 outputs"):
        ingest(path, digits_npz, tmp_path / "model", tmp_path / "data.npz")
    assert not (tmp_path / "model").exists() and not (tmp_path / "data.npz").exists()


def test_umask_permissions_on_outputs(tmp_path, digits_model_file, digits_npz):
    from edgeopt.ingest.core import ingest

    old = os.umask(0o022)
    try:
        ingest(digits_model_file, digits_npz, tmp_path / "model", tmp_path / "data.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert np.load(tmp_path / "data.npz")["x_train"].shape[1:] == (8, 8, 1)
