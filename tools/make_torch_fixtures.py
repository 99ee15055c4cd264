"""Write the tiny torch.save fixtures under tests/data/checkpoints/ (run once, with PyTorch installed).

    python tools/make_torch_fixtures.py

Every value is a function of arange so tests/test_serialization_torch.py checks
them without PyTorch: see its ``expected_dtypes`` and ``expected_views``.
"""
import collections
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "checkpoints"
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128]
NEW_DTYPES = [torch.uint16, torch.uint32, torch.uint64]  # written with _rebuild_tensor_v3 + UntypedStorage


def state(new_dtypes):
    sd = collections.OrderedDict()
    for dt in DTYPES + (NEW_DTYPES if new_dtypes else []):
        sd[str(dt).replace("torch.", "")] = (torch.arange(6) * 3 - 5).reshape(2, 3).to(dt)
    base = torch.arange(12.0).reshape(3, 4)
    sd["base"] = base
    sd["tied"] = base  # the same tensor twice: one storage
    sd["columns"] = base[:, 1:3]  # a strided view into base's storage
    sd["transposed"] = base.t()
    sd["row"] = base[2]  # a storage offset
    sd["scalar"] = base[1, 1]
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.full((2,), 0.5))
    sd["meta"] = {"step": 3, "lr": 0.25, "name": "fixture", "blob": b"\x00\xff", "ids": {1, 2},
                  "device": torch.device("cpu"), "shape": torch.Size([2, 3]), "big": 2 ** 70, "none": None,
                  "nested": [1, (2, 3.5)]}
    return sd


def mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape) * (i + 1))
    return model.state_dict()


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(state(True), OUT / "state_dict.pt")
    # torch cannot read back uint16/32/64 from the legacy format: leave them out there
    torch.save(state(False), OUT / "state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(mlp(), OUT / "mlp.pt")
    for p in sorted(OUT.glob("*.pt")):
        print(p.name, p.stat().st_size, "bytes")
