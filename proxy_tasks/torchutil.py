"""Small torch helpers shared by the proxy task's modules: device, seed scope, precision, sync.

Imports: torch; :mod:`sweep.devices`. Nothing else from the project.
"""

from __future__ import annotations

import contextlib

import torch

from sweep import devices


def resolve_torch_device(device: str) -> torch.device:
    """A ``--device`` value (``auto``, ``cpu``, ``cuda``, ``cuda:N``) as a ``torch.device`` that
    exists here (``auto``: CUDA when available); a one-line SweepError otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return devices.torch_device(device, "device")


@contextlib.contextmanager
def scoped_torch_seed(seed: int, device: torch.device):
    """Seed torch's default generators for the block, then restore them."""
    devs = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devs):
        torch.manual_seed(seed)
        yield


def autocast(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for ``precision == "bf16"``; a no-op context otherwise."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def to_float(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """uint8 (N, S, S) or (N, C, S, S) -> float (N, in_chans, S, S) normalised to [-1, 1]."""
    if x.dim() == 3:
        x = x[:, None]
    x = x.float().div_(127.5).sub_(1.0)
    if x.shape[1] != in_chans:
        x = x.expand(-1, in_chans, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    return x
