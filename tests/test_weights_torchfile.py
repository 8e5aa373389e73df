"""The torch-free ``.pt`` reader against ``torch.load(weights_only=True)``; torch only writes the fixtures."""
import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from src.weights.torchfile import TorchFileError, read_torch_file

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMPY_DTYPE = {torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64,
               torch.bfloat16: np.float32, torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16,
               torch.int8: np.int8, torch.uint8: np.uint8, torch.bool: np.bool_}


def _save(tmp_path, obj, name="w.pt", **kwargs):
    path = str(tmp_path / name)
    torch.save(obj, path, **kwargs)
    return path


def _values(dtype, shape=(3, 5), seed=0):
    """A tensor of ``dtype`` with varied values (negatives, fractions, extremes where the dtype has them)."""
    gen = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=gen) > 0.5
    if dtype.is_floating_point:
        values, extremes = torch.randn(shape, generator=gen, dtype=torch.float64) * 100, [float("inf"), -0.0]
    else:
        info = torch.iinfo(dtype)
        values, extremes = torch.randint(info.min, info.max, shape, generator=gen), [info.min, info.max]
    if values.numel() > 2:
        values.view(-1)[:2] = torch.tensor(extremes, dtype=values.dtype)
    return values.to(dtype)


def _reference(path):
    """What torch itself loads from ``path`` (``model``/``state_dict`` unwrapped), tensors as numpy arrays."""
    obj = torch.load(path, weights_only=True)
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    return {key: (value.float() if value.dtype == torch.bfloat16 else value).detach().numpy()
            for key, value in obj.items() if isinstance(value, torch.Tensor)}


def _assert_matches_torch(path):
    ours, theirs = read_torch_file(path), _reference(path)
    assert list(ours) == list(theirs)
    for key, expected in theirs.items():
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape, key
        assert ours[key].flags.c_contiguous and ours[key].flags.writeable, key
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)
    return ours


def _rewrite(src, dst, edit):
    """Copy zip ``src`` to ``dst`` with every record's bytes passed through ``edit(name, data)``; None drops it."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            data = edit(name, old.read(name))
            if data is not None:
                new.writestr(name, data)
    return dst


def _write_archive(path, data_pkl, records=None):
    """A hand-made checkpoint: ``archive/data.pkl`` plus ``archive/data/<key>`` records."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        for key, data in (records or {}).items():
            archive.writestr(f"archive/data/{key}", data)
    return str(path)


class _FakeStorage:
    def __init__(self, *pid):
        self.pid = pid


class _TensorRecord:
    """Pickles as ``torch._utils._rebuild_tensor_v2(*args)``, exactly as torch writes a tensor."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args  # pylint: disable=protected-access


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _FakeStorage) else None


def _pickle(obj):
    """Protocol-2 pickle of ``obj`` with ``_FakeStorage`` objects written as persistent ids (as torch does)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


@pytest.mark.parametrize("dtype", list(NUMPY_DTYPE), ids=str)
def test_every_dtype_matches_torch_load(tmp_path, dtype):
    path = _save(tmp_path, {"x": _values(dtype), "scalar": _values(dtype, shape=())})
    ours = _assert_matches_torch(path)
    assert ours["x"].dtype == NUMPY_DTYPE[dtype] and ours["scalar"].shape == ()


def test_bfloat16_widens_exactly_to_float32(tmp_path):
    exact = [1.5, -2.0, 3.140625, 65280.0, float("inf"), -float("inf"), 2.0 ** -133, 0.0]
    path = _save(tmp_path, {"x": torch.tensor(exact, dtype=torch.bfloat16)})
    np.testing.assert_array_equal(read_torch_file(path)["x"], np.array(exact, np.float32))
    assert np.isnan(read_torch_file(_save(tmp_path, {"x": torch.tensor([float("nan")]).bfloat16()}, "n.pt"))["x"])


def test_shared_storage_views_with_offset_and_strides(tmp_path, monkeypatch):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    views = {"a": base, "t": base.t(), "s": base[1:, ::2], "row": base[2], "col": base[:, 3]}
    assert len({v.untyped_storage().data_ptr() for v in views.values()}) == 1
    path = _save(tmp_path, views)
    with zipfile.ZipFile(path) as archive:
        assert len([n for n in archive.namelist() if "/data/" in n]) == 1  # one storage on disk
    reads, read = [], zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, *a: reads.append(name) or read(self, name, *a))
    ours = _assert_matches_torch(path)
    assert reads == ["w/byteorder", "w/data/0"]  # the shared storage is read once
    np.testing.assert_array_equal(ours["s"], [[4, 6], [8, 10]])
    np.testing.assert_array_equal(ours["col"], [3, 7, 11])
    ours["a"][:] = -1  # copies: no two results share memory
    np.testing.assert_array_equal(ours["t"], np.arange(12.0).reshape(3, 4).T)


def test_non_contiguous_and_expanded_tensors_saved_as_is(tmp_path):
    base = _values(torch.float32, shape=(4, 6))
    tensors = {"t": base.t(), "slice": base[1:3, 1::2], "expanded": torch.arange(3.0).reshape(3, 1).expand(3, 4),
               "empty": torch.zeros(0, 3), "offset_empty": base[4:, :]}
    assert tensors["expanded"].stride() == (1, 0) and not tensors["t"].is_contiguous()
    ours = _assert_matches_torch(_save(tmp_path, tensors))
    np.testing.assert_array_equal(ours["expanded"], np.repeat(np.arange(3.0, dtype=np.float32)[:, None], 4, 1))
    assert ours["empty"].shape == (0, 3) and ours["offset_empty"].shape == (0, 6)


def test_parameters_with_and_without_python_state(tmp_path):
    plain = torch.nn.Parameter(_values(torch.float32))
    with_state = torch.nn.Parameter(_values(torch.float16, seed=1), requires_grad=False)
    with_state.note = "extra attribute"  # pickled via torch._utils._rebuild_parameter_with_state
    path = _save(tmp_path, {"p": plain, "q": with_state})
    with zipfile.ZipFile(path) as archive:
        assert b"_rebuild_parameter_with_state" in archive.read("w/data.pkl")
    ours = _assert_matches_torch(path)
    np.testing.assert_array_equal(ours["p"], plain.detach().numpy())


def _trained_model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(2, 3, 6, 6)).square().mean().backward()
    optimizer.step()
    return model, optimizer


def test_module_state_dict_with_batchnorm_counters(tmp_path):
    model, _ = _trained_model_and_optimizer()
    state = model.state_dict()
    assert isinstance(state, collections.OrderedDict)
    ours = _assert_matches_torch(_save(tmp_path, state))
    assert list(ours) == list(state)
    counter = ours["1.num_batches_tracked"]
    assert counter.shape == () and counter.dtype == np.int64 and counter == 1
    np.testing.assert_array_equal(ours["1.running_var"], state["1.running_var"].numpy())


@pytest.mark.parametrize("wrap", [lambda sd, opt: {"model": sd, "optimizer": opt, "epoch": 3},
                                  lambda sd, opt: {"state_dict": sd, "optimizer": opt},
                                  lambda sd, opt: {"model": {"state_dict": sd}, "optimizer": opt}],
                         ids=["model", "state_dict", "model.state_dict"])
def test_wrapped_state_dict_with_adam_optimizer(tmp_path, wrap):
    model, optimizer = _trained_model_and_optimizer()
    assert optimizer.state_dict()["state"][0]["exp_avg"].abs().sum() > 0
    path = _save(tmp_path, wrap(model.state_dict(), optimizer.state_dict()))
    ours = _assert_matches_torch(path)
    assert list(ours) == list(model.state_dict())
    np.testing.assert_array_equal(ours["0.weight"], model[0].weight.detach().numpy())


def test_non_tensor_entries_dropped_and_plain_python_values_pass(tmp_path):
    extra = {"list": [1, 2.5, "s", None, True], "tuple": (1, (2,)), "set": {1, 2}, "frozen": frozenset({3}),
             "bytes": b"\x00\xff", "size": torch.Size([2, 3]), "nested": {"a": [{}]}}
    path = _save(tmp_path, {"model": {"w": torch.ones(2), "step": 7, "name": "x", "meta": extra}, "extra": extra})
    ours = read_torch_file(path)
    assert list(ours) == ["w"]
    np.testing.assert_array_equal(ours["w"], np.ones(2, np.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int32, torch.int16, torch.uint8], ids=str)
def test_big_endian_file_is_byteswapped(tmp_path, dtype):
    tensors = {"x": _values(dtype), "x_t": None}
    tensors["x_t"] = tensors["x"].t()  # a second view of the same (only) storage
    path = _save(tmp_path, tensors)
    itemsize = tensors["x"].element_size()

    def to_big_endian(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name:
            return np.frombuffer(data, f"<u{itemsize}").astype(f">u{itemsize}").tobytes()
        return data

    big = _rewrite(path, str(tmp_path / "big.pt"), to_big_endian)
    ours = _assert_matches_torch(big)
    expected = (tensors["x"].float() if dtype == torch.bfloat16 else tensors["x"]).numpy()
    np.testing.assert_array_equal(ours["x"], expected)
    np.testing.assert_array_equal(ours["x_t"], expected.T)


def test_missing_byteorder_record_means_little_endian(tmp_path):
    path = _save(tmp_path, {"x": _values(torch.int32)})
    old = _rewrite(path, str(tmp_path / "old.pt"), lambda name, data: None if name.endswith("byteorder") else data)
    np.testing.assert_array_equal(read_torch_file(old)["x"], _values(torch.int32).numpy())


def test_malicious_pickle_runs_nothing_and_names_the_global(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    path = _write_archive(tmp_path / "evil.pt", payload)
    with pytest.raises(TorchFileError, match=r"evil\.pt: refuses to load 'os\.system' \(not part of a state dict"):
        read_torch_file(path)
    assert not marker.exists()
    pickle.loads(payload)  # the control: an unrestricted unpickler does run the command
    assert marker.exists()


@pytest.mark.parametrize("obj, name", [
    (lambda: {"model": {"w": torch.ones(1)}, "optimizer": {"device": torch.device("cpu")}}, "torch.device"),
    (lambda: torch.nn.Linear(2, 2), "torch.nn.modules.linear.Linear"),
    (lambda: {"c": torch.ones(2, dtype=torch.complex64)}, "torch.ComplexFloatStorage"),
    (lambda: {"w": torch.ones(2)} | {"f": print}, "builtins.print"),
], ids=["optimizer-part", "whole-module", "complex", "function"])
def test_other_globals_refused_anywhere(tmp_path, obj, name):
    path = _save(tmp_path, obj())
    with pytest.raises(TorchFileError, match=rf"refuses to load '{name}'.*optimizer state included"):
        read_torch_file(path)


def test_stack_global_eval_refused(tmp_path):
    payload = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x0cprint('hi')\x85R."
    assert b"\x93" in payload  # STACK_GLOBAL
    with pytest.raises(TorchFileError, match=r"refuses to load 'builtins\.eval'"):
        read_torch_file(_write_archive(tmp_path / "eval.pt", payload))


def test_legacy_file_explains_how_to_resave(tmp_path):
    state = {"w": _values(torch.float32)}
    old = _save(tmp_path, state, "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(TorchFileError) as err:
        read_torch_file(old)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{old}: legacy (torch < 1.6)")
    assert "torch.save(torch.load('OLD.pt', map_location='cpu'), 'NEW.pt', _use_new_zipfile_serialization=True)" \
        in message
    new = _save(tmp_path, torch.load(old, map_location="cpu"), "new.pt", _use_new_zipfile_serialization=True)
    np.testing.assert_array_equal(read_torch_file(new)["w"], state["w"].numpy())


def test_empty_truncated_and_foreign_files(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(TorchFileError, match=r"empty\.pt: empty file \(0 bytes\)"):
        read_torch_file(str(empty))
    with open(_save(tmp_path, {"w": torch.ones(100)}), "rb") as file:
        full = file.read()
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(full[:len(full) // 2])
    with pytest.raises(TorchFileError, match=r"cut\.pt: truncated or corrupt zip archive"):
        read_torch_file(str(truncated))
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(TorchFileError, match=r"notes\.pt: not a PyTorch checkpoint"):
        read_torch_file(str(text))
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(TorchFileError, match=r"other\.zip: zip archive without <archive>/data\.pkl"):
        read_torch_file(str(tmp_path / "other.zip"))


def test_corrupt_records(tmp_path):
    path = _save(tmp_path, {"w": torch.arange(8.0), "n": torch.arange(3)})
    short = _rewrite(path, str(tmp_path / "short.pt"), lambda name, data: data[:12] if name.endswith("/0") else data)
    with pytest.raises(TorchFileError, match=r"short\.pt: .*w/data/0 has 12 bytes, fewer than the 8 x 4 bytes"):
        read_torch_file(short)
    gone = _rewrite(path, str(tmp_path / "gone.pt"), lambda name, data: None if name.endswith("/1") else data)
    with pytest.raises(TorchFileError, match=r"gone\.pt: .*storage record w/data/1 is missing"):
        read_torch_file(gone)
    cut_pickle = _rewrite(path, str(tmp_path / "pkl.pt"), lambda name, data: data[:-5] if "data.pkl" in name else data)
    with pytest.raises(TorchFileError, match=r"pkl\.pt: corrupt checkpoint"):
        read_torch_file(cut_pickle)


def test_unusable_content(tmp_path):
    path = _save(tmp_path, {"w": torch.ones(2)})
    odd = _rewrite(path, str(tmp_path / "odd.pt"), lambda name, data: b"middle" if name.endswith("byteorder") else data)
    with pytest.raises(TorchFileError, match=r"odd\.pt: unknown byteorder record 'middle'"):
        read_torch_file(odd)
    with pytest.raises(TorchFileError, match=r"list\.pt: holds a list, not a state dict"):
        read_torch_file(_save(tmp_path, [torch.ones(2)], "list.pt"))
    with pytest.raises(TorchFileError, match=r"none\.pt: state dict without tensors \(keys: epoch, lr\)"):
        read_torch_file(_save(tmp_path, {"epoch": 3, "lr": 0.1}, "none.pt"))


def test_tensor_reaching_past_its_storage_refused(tmp_path):
    storage = _FakeStorage("storage", torch.FloatStorage, "0", "cpu", 4)
    for size, stride, offset in [((3, 2), (2, 1), 0), ((4,), (1,), 1), ((2,), (-1,), 1)]:
        record = _TensorRecord(storage, offset, size, stride, False, collections.OrderedDict())
        path = _write_archive(tmp_path / "bad.pt", _pickle({"w": record}), {"0": np.arange(4, dtype="<f4").tobytes()})
        with pytest.raises(TorchFileError, match=r"bad\.pt: corrupt checkpoint .*(too short|invalid tensor)"):
            read_torch_file(path)
    record = _TensorRecord(storage, 1, (3,), (1,), False, collections.OrderedDict())  # the largest that fits
    path = _write_archive(tmp_path / "ok.pt", _pickle({"w": record}), {"0": np.arange(4, dtype="<f4").tobytes()})
    np.testing.assert_array_equal(read_torch_file(path)["w"], [1, 2, 3])


def test_reading_does_not_import_torch(tmp_path):
    path = _save(tmp_path, {"w": torch.arange(6.0).reshape(2, 3) * 0.5, "b": _values(torch.bfloat16)})
    code = ("import sys; from src.weights.torchfile import read_torch_file; "
            "sd = read_torch_file(sys.argv[1]); assert 'torch' not in sys.modules, 'torch imported'; "
            "print(sorted(sd), sd['w'].sum())")
    result = subprocess.run([sys.executable, "-c", code, path], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['b',", "'w']", "7.5"]
