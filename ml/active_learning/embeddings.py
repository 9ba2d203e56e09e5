"""Per-line recognizer embeddings, read from the model without changing it.

A line's embedding is the mean, over its own frames, of what the classifier reads (the
BiLSTM output): two lines close in this space look alike to the recognizer. A forward
hook on `model.classifier` captures that input, so `LineRecognizer` needs no new method
and old checkpoints work as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def classifier_inputs(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, every forward pass appends the classifier's input (N, T, D) to the yielded list."""
    captured: list[torch.Tensor] = []

    def keep_input(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured.append(inputs[0].detach())

    handle = model.classifier.register_forward_hook(keep_input)
    try:
        yield captured
    finally:
        handle.remove()


def mean_over_frames(features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(N, T, D) features and (N,) valid frame counts → (N, D) means over each line's own frames.

    Padding frames are left out, so a line's embedding does not depend on the batch it was in.
    """
    frames = torch.arange(features.shape[1], device=features.device)
    valid = (frames[None, :] < lengths.to(features.device)[:, None]).to(features.dtype)   # (N, T)
    total = (features * valid[:, :, None]).sum(dim=1)
    return total / valid.sum(dim=1, keepdim=True).clamp(min=1.0)
