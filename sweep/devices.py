"""Devices and profiles: which torch device a trial runs on, and which recipe preset it gets.

A profile is a recipe preset (``cpu``: laptops; ``gpu``: one CUDA device); ``auto`` picks
``gpu`` when the trial's device is CUDA. The engine, ``sweep trial`` and ``sweep calibrate``
pick the profile through :func:`pick_profile`, which says once, on stderr, why ``auto`` chose
what it chose; :func:`check_gpu_profile` refuses ``gpu`` where no CUDA device is.

Imports: the standard library and :mod:`sweep.errors`. torch is imported only when a device
must be checked (``auto``, or a ``cuda`` device) on a machine that may have one
(:func:`no_gpu_here`); an explicit ``cpu`` never imports it.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

from sweep.errors import SweepError

PROFILES = ("cpu", "gpu")
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def torch_device(device: str, label: str, choices: str = DEVICE_CHOICES):
    """``device`` as a ``torch.device`` that exists here; a one-line SweepError otherwise."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SweepError(f"{label}: unknown device '{device}'; use {choices}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SweepError(f"{label}: '{device}' asked for, but no CUDA device is available")
    return dev


def no_gpu_here() -> bool:
    """True when this machine certainly has no device torch could use as ``cuda``: Linux
    without an NVIDIA device node or driver (``/dev/nvidia0``, ``/proc/driver/nvidia``), an
    AMD ROCm node (``/dev/kfd``) or WSL's GPU (``/dev/dxg``), or macOS. Answered without
    importing torch (about a second of every launcher and worker start on a laptop); where
    it is False, torch decides."""
    if sys.platform == "darwin":
        return True
    if not sys.platform.startswith("linux"):
        return False
    nodes = ("/proc/driver/nvidia/version", "/dev/kfd", "/dev/dxg")
    return not (glob.glob("/dev/nvidia[0-9]*") or any(os.path.exists(n) for n in nodes))


def cuda_count() -> int:
    """The number of CUDA devices torch sees here (0 without importing torch where
    :func:`no_gpu_here`)."""
    if no_gpu_here():
        return 0
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def device_type(device: str, label: str = "device") -> str:
    """``cpu`` or ``cuda`` for a ``--device`` value (``auto``: CUDA when available)."""
    if device == "cpu":
        return "cpu"
    if device == "auto":
        return "cuda" if cuda_count() > 0 else "cpu"
    return str(torch_device(device, label).type)


@dataclass(frozen=True)
class ProfileChoice:
    """The profile a run uses and, for ``auto``, why."""

    profile: str
    device_type: str
    asked: str

    @property
    def why(self) -> str:
        return "a CUDA device is available" if self.device_type == "cuda" else "no CUDA device"

    def announce(self, quiet: bool = False) -> None:
        """``sweep: profile 'cpu' (no CUDA device); override with --profile`` for ``auto``."""
        if self.asked == "auto" and not quiet:
            print(
                f"sweep: profile '{self.profile}' ({self.why}); override with --profile",
                file=sys.stderr,
            )


def resolve_profile(profile: str, device_type: str) -> str:
    """``auto`` -> ``gpu`` on a CUDA device, else ``cpu``; an explicit profile as it is."""
    if profile == "auto":
        return "gpu" if device_type == "cuda" else "cpu"
    return profile


def check_gpu_profile(
    asked: str, device: str = "auto", *, remote: bool = False, label: str = "--profile"
) -> None:
    """Profile ``gpu`` (``asked``, before ``auto`` is resolved) needs a CUDA device here.

    Without one it is refused on one line (``--device auto``: nothing would use a GPU, and the
    gpu preset's trials would crawl on the CPU), except when the user said ``--device cpu``:
    then the gpu preset on the CPU is what was asked for (checking its pipeline, say), and one
    warning line says it is slow. ``remote``: the trials run on a Ray cluster's devices, not on
    this machine's, so there is nothing to check here. ``label`` names where ``gpu`` came
    from. Imports torch only for ``gpu`` on ``auto`` or a CUDA device."""
    if asked != "gpu" or remote:
        return
    if device == "cpu":
        print(
            f"sweep: warning: {label} gpu with --device cpu runs the gpu preset on the CPU, "
            "many times slower than --profile cpu",
            file=sys.stderr,
        )
        return
    if device_type(device, "--device") != "cuda":  # (a cuda device without CUDA: refused there)
        raise SweepError(
            f"{label} gpu: no CUDA device is available here; use --profile cpu "
            "(or auto, which picks cpu here), or add --device cpu to run the gpu "
            "preset on the CPU anyway (slow)"
        )


def pick_profile(asked: str, device: str = "auto") -> ProfileChoice:
    """The profile for ``asked`` (auto, cpu or gpu) on ``device``; checks the device exists."""
    kind = device_type(device)
    return ProfileChoice(resolve_profile(asked, kind), kind, asked)
