"""Just enough torch.distributed for the course: the same script runs alone or under torchrun.

``torchrun --nproc_per_node=N script.py`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; everything here reads those, so samplers can shard data before
the trainer has initialised the process group.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from course_utils import config


def world_size() -> int:
    """Number of processes taking part (1 when not launched by torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its own machine: which GPU it should use."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    """True under torchrun with more than one process."""
    return world_size() > 1


def is_main_process() -> bool:
    """Only rank 0 prints, draws progress bars and saves checkpoints."""
    return rank() == 0


def init_distributed() -> bool:
    """Initialise the process group once when launched with several processes.

    Uses NCCL when CUDA is available and gloo otherwise (the CPU backend). Returns
    whether this run is distributed. Safe to call repeatedly.
    """
    if not is_distributed():
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return True


def distributed_device() -> torch.device | None:
    """The device this rank should use under torchrun, or None when not distributed."""
    if not is_distributed():
        return None
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or the model)."""
    while isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel) or hasattr(
        model, "_orig_mod"
    ):
        model = model.module if hasattr(model, "module") else model._orig_mod
    return model


def process_group_ready() -> bool:
    """True once the process group is up with more than one process (inside ``fit``)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few numbers over all ranks, so every rank sees whole-data-set metrics.

    A no-op when not distributed. NCCL reduces only CUDA tensors, so under NCCL the
    numbers travel on this rank's GPU whatever ``device`` says.
    """
    if not process_group_ready():
        return values
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = distributed_device() or device
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_state(module: nn.Module) -> None:
    """Make every rank hold rank 0's parameters and buffers (a no-op when not distributed)."""
    if not process_group_ready():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def place(
    model: nn.Module, device: torch.device | str | None
) -> tuple[nn.Module, nn.Module, torch.device]:
    """``(plain model, model to train, device)``: on its device, wrapped in DDP under torchrun.

    ``device`` defaults to :func:`course_utils.config.get_device` (under torchrun: this
    rank's GPU, or the CPU). A model already wrapped in DDP is unwrapped and wrapped again.
    """
    is_dist = init_distributed()
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    if is_dist:
        device = distributed_device()
    device = torch.device(device) if device is not None else config.get_device()
    model.to(device)
    train_model: nn.Module = model  # keeps a torch.compile wrapper, if any
    if is_dist:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return unwrap(model), train_model, device


def finish(module: nn.Module) -> None:
    """End a distributed ``fit``: every rank holds rank 0's weights, and its files are on disk."""
    if process_group_ready():
        broadcast_state(module)
        dist.barrier()
