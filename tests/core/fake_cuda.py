"""A stand-in CUDA device for a CPU-only torch, so the real pipeline's device placement can be checked in CI.

Why not torch's FakeTensorMode alone: on a CPU-only build (torch 2.13+cpu) a fake CUDA tensor cannot be indexed
from Python (`x[0]` raises "PyTorch is not linked with support for cuda devices": the indexing code takes a CUDA
device guard, and `_ensureCUDADeviceGuardSet` only installs a stand-in guard on CUDA builds), and a fake tensor
has no values, so the host reads the pipeline makes (the end-of-song check, the codes handed to the codec, the
audio) cannot be answered. So this layer keeps real values and lies only about the device:

- `FakeCudaTensor` wraps a real CPU tensor and says it lives on cuda:0 (`.device`, `.is_cuda`);
- `DeviceRules` (a TorchDispatchMode) sees every aten op: it refuses CPU and "CUDA" tensors mixed in one op
  (0-dim CPU tensors aside, as CUDA allows), a generator on another device than the op's tensors, and it runs
  the op on the real tensors, wrapping the results of "CUDA" ops again;
- `HostBoundary` (a TorchFunctionMode) handles what never reaches the dispatcher on a CPU-only build: device
  moves (`.to`, `.cuda()`, `.cpu()`), factories with device="cuda", `tolist()` and `numpy()` (refused on
  "CUDA" tensors, as on a GPU), and random draws with a generator on another device than the tensor they fill;
- every host read of a "CUDA" tensor (`.item()`, `bool()`, `tolist()`, a copy to the CPU) and every copy to
  the device is logged with the phase the test is in (`FakeCuda.phase`), so a test can count syncs per frame.

Models must be made on the stand-in inside `torch.inference_mode()`, as the pipeline makes them when it loads
them: a stand-in tensor made outside it and written through a view inside it fails with "Cannot set
version_counter for inference tensor" (the wrapper tensors do not carry autograd's view tracking).

The CUDA int8 kernel `_weight_int8pack_mm` takes any input width; its CPU twin crashes on widths that are not a
multiple of its vector block, so "CUDA" calls of it are computed as what the CUDA kernel computes (float32
x @ q^T times the scale, cast back).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from heartmula_core.accelerator import Accelerator, DeviceMemory

CUDA = torch.device("cuda:0")
CPU = torch.device("cpu")
aten = torch.ops.aten
METADATA_OPS = (aten._has_compatible_shallow_copy_type.default, aten.is_same_size.default)
"""Ops that compare tensors without touching their data (Module.to asks them across devices)."""
HOST_READS = (aten._local_scalar_dense.default, aten.is_nonzero.default, aten.item.default, aten.equal.default)
"""Ops that hand a value of a device tensor to Python: each waits for the device's queue (a host sync)."""
INDEX_OPS = (aten.index.Tensor, aten.index_put_.default, aten.index_put.default, aten._index_put_impl_.default)
"""Ops whose index tensors may be on the CPU (CUDA copies them over: logged as a copy to the device)."""


class FakeCudaTensor(torch.Tensor):
    """A real CPU tensor (`elem`) that says it is on cuda:0."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        wrapper = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            device=CPU, requires_grad=elem.requires_grad,
        )
        wrapper.elem = elem
        return wrapper

    @property
    def device(self) -> torch.device:
        return CUDA

    @property
    def is_cuda(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"FakeCudaTensor({self.elem!r})"

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on a FakeCudaTensor outside FakeCuda")


class FakeCudaGenerator(torch.Generator):
    """A CPU generator that says it draws on cuda:0 (what `torch.Generator(device="cuda")` gives on a GPU)."""

    @property
    def device(self) -> torch.device:
        return CUDA


@dataclass
class Transfer:
    phase: object
    kind: str  # "read" (a scalar read on the host), "to host", "to device"
    shape: tuple[int, ...]
    dtype: torch.dtype


def _is_cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def _unwrap(x):
    return x.elem if isinstance(x, FakeCudaTensor) else x


def _wrap(x):
    return FakeCudaTensor(x) if isinstance(x, torch.Tensor) and not isinstance(x, FakeCudaTensor) else x


def _map(fn, x):
    """fn over the leaves of an op's arguments or results (tuples, lists and dicts of them), in the shapes aten
    uses (torch's pytree does the same at several times the cost, which a song's 400,000 ops feel)."""
    kind = type(x)
    if kind is tuple or kind is list:
        return kind(_map(fn, v) if type(v) in (tuple, list) else fn(v) for v in x)
    if kind is dict:
        return {k: _map(fn, v) for k, v in x.items()} if x else x
    return fn(x)


def _tensors(args, kwargs) -> list[torch.Tensor]:
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif type(value) in (tuple, list):
            found += [v for v in value if isinstance(v, torch.Tensor)]
    return found


@dataclass
class FakeCuda:
    """`with FakeCuda() as cuda:` runs the block with "cuda" as the stand-in device; `cuda.transfers` logs host
    reads and copies, `cuda.ops` counts the aten ops (OpOverloads) run on the device, `cuda.conv_precision` the
    cuDNN float32 precision setting seen by each "CUDA" convolution."""

    phase: object = None
    transfers: list[Transfer] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    conv_precision: Counter = field(default_factory=Counter)

    def __enter__(self) -> FakeCuda:
        # Module.to must swap parameters for the wrapper tensors instead of assigning `.data` into a plain one.
        self._swap = torch.__future__.get_swap_module_params_on_conversion()
        torch.__future__.set_swap_module_params_on_conversion(True)
        self._modes = [HostBoundary(self), DeviceRules(self)]
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        torch.__future__.set_swap_module_params_on_conversion(self._swap)

    def log(self, kind: str, tensor: torch.Tensor) -> None:
        self.transfers.append(Transfer(self.phase, kind, tuple(tensor.shape), tensor.dtype))

    def move(self, tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None,
             non_blocking: bool = False) -> torch.Tensor:
        """`tensor.to(device, dtype)` across the stand-in boundary."""
        return aten._to_copy(tensor, device=device, dtype=dtype or tensor.dtype, non_blocking=non_blocking)


class HostBoundary(TorchFunctionMode):
    """Device moves, CUDA factories and host reads, at the Python level (a CPU-only torch refuses them earlier)."""

    def __init__(self, cuda: FakeCuda):
        super().__init__()
        self.cuda = cuda

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.cpu):
            return self._to(func, args, kwargs)
        if func is torch.Tensor.tolist and isinstance(args[0], FakeCudaTensor):
            return self.cuda.move(args[0], CPU).tolist()
        if func is torch.Tensor.numpy and isinstance(args[0], FakeCudaTensor):
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() first.")
        if kwargs.get("generator") is not None:
            self._check_generator(func, args, kwargs)
        if _is_cuda(kwargs.get("device")):
            return _map(_wrap, func(*args, **{**kwargs, "device": CPU}))
        return func(*args, **kwargs)

    @staticmethod
    def _check_generator(func, args, kwargs) -> None:
        """A random draw's generator must be on the device it fills (here: the dispatcher sees a plain one)."""
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        target = torch.device(kwargs["device"]) if kwargs.get("device") is not None else tensors[0].device if tensors else CPU
        found = kwargs["generator"].device
        if found.type != target.type:
            raise RuntimeError(f"{func.__name__}: expected a '{target.type}' device type for generator but found '{found}'")

    def _to(self, func, args, kwargs):
        tensor, device, dtype = args[0], kwargs.get("device"), kwargs.get("dtype")
        if func is torch.Tensor.cpu:
            device = CPU
        elif func is torch.Tensor.cuda:
            device = CUDA
        for arg in args[1:]:
            if isinstance(arg, torch.dtype):
                dtype = arg
            elif isinstance(arg, (str, torch.device)):
                device = torch.device(arg)
            elif isinstance(arg, torch.Tensor):
                device, dtype = arg.device, arg.dtype
        device = CUDA if _is_cuda(device) else torch.device(device) if device is not None else tensor.device
        dtype = dtype or tensor.dtype
        if device == tensor.device and dtype == tensor.dtype and not kwargs.get("copy", False):
            return tensor
        return self.cuda.move(tensor, device, dtype, kwargs.get("non_blocking", False))


class DeviceRules(TorchDispatchMode):
    """Every aten op: refuse mixed devices, run it on the real tensors, log what crosses the host boundary."""

    def __init__(self, cuda: FakeCuda):
        super().__init__()
        self.cuda = cuda

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (aten._to_copy.default, aten.copy_.default):
            return self._copy(func, args, kwargs)
        if FakeCudaTensor not in types:  # CPU work (the codec's noise, crossfades): nothing to check or unwrap
            return func(*args, **kwargs)
        tensors = _tensors(args, kwargs)
        if func in INDEX_OPS:
            for index in args[1]:
                if index is not None and not isinstance(index, FakeCudaTensor):
                    self.cuda.log("to device", index)
            tensors = [t for t in (args[0], *args[2:]) if isinstance(t, torch.Tensor)]
        if func not in METADATA_OPS:
            self._check(func, tensors)
            self.cuda.ops[func] += 1
            if func in HOST_READS:
                self.cuda.log("read", args[0])
            if "conv" in func.__name__:
                self.cuda.conv_precision[torch.backends.cudnn.conv.fp32_precision] += 1
        real_args, real_kwargs = _map(_unwrap, (args, kwargs))
        if func is aten._weight_int8pack_mm.default:
            x, q, scale = real_args
            out = ((x.float() @ q.float().T) * scale.float()).to(x.dtype)  # the CUDA kernel's arithmetic
        else:
            out = func(*real_args, **real_kwargs)
        if func._schema.is_mutable and out is real_args[0]:
            return args[0]  # an in-place op returns its (wrapped) input
        return _map(_wrap, out)

    @staticmethod
    def _check(func, tensors) -> None:
        # Every tensor here is either on the stand-in or a plain CPU one; CUDA takes 0-dim CPU tensors as scalars.
        if any(type(t) is not FakeCudaTensor and t.dim() > 0 for t in tensors):
            raise RuntimeError(f"{func}: expected all tensors to be on the same device, found cuda:0 and cpu")

    def _copy(self, func, args, kwargs):
        if func is aten._to_copy.default:
            source, target = args[0], kwargs.get("device") or args[0].device
            out = aten._to_copy(_unwrap(source), **{**kwargs, "device": CPU})
            result = FakeCudaTensor(out) if _is_cuda(target) else out
        else:
            target, source = args[0].device, args[1]
            aten.copy_(_unwrap(args[0]), _unwrap(source), *args[2:])
            result = args[0]
        source_cuda, target_cuda = isinstance(source, FakeCudaTensor), _is_cuda(target)
        if source_cuda and not target_cuda:
            self.cuda.log("to host", source)
        elif target_cuda and not source_cuda:
            self.cuda.log("to device", source)
        return result


class FakeCudaAccelerator(Accelerator):
    """The pipeline's device answers for the stand-in: memory numbers the test sets, generators on "cuda"."""

    def __init__(self, memory: DeviceMemory):
        self.numbers = memory

    def memory(self, device: torch.device) -> DeviceMemory:
        return self.numbers

    def generator(self, device: torch.device, seed: int) -> torch.Generator:
        if device.type != "cuda":
            return super().generator(device, seed)
        generator = FakeCudaGenerator()
        generator.manual_seed(seed)
        return generator
