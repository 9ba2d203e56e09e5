"""CTC line recognizer: grayscale line image → per-frame character scores.

    image (N, 1, H, W), ink = 1, paper = 0
      → CNN: 4 blocks, height ÷16 → 1 column stack, width ÷4   (N, C·H/16, W/4)
      → linear projection + dropout                              (N, T, P)
      → bidirectional LSTM, `lstm_layers` layers                  (N, T, 2·hidden)
      → linear                                                    (N, T, num_classes)

Class 0 is the CTC blank; classes 1.. are the alphabet's characters, in the order the
checkpoint stores them. Width is reduced only ×4 so a line keeps ≥ 2 frames per
character even for tight handwriting (CTC needs T ≥ label length + repeats).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

WIDTH_REDUCTION = 4                      # input columns per output frame


@dataclass
class RecognizerConfig:
    num_classes: int                     # alphabet size + 1 (blank)
    height: int = 48                     # input height in pixels; must be divisible by 16
    # Lines are also squeezed horizontally: fewer frames make every layer cheaper, while
    # the full height keeps accents and dots legible (median ≈ 3 frames per character).
    horizontal_scale: float = 0.7
    # Sized for CPU training: about 1 M parameters, ~1.5× the lines/s of a 2×192 LSTM.
    channels: tuple[int, ...] = (16, 32, 48, 64)
    projection: int = 192
    lstm_hidden: int = 160
    lstm_layers: int = 2
    dropout: float = 0.25

    def as_dict(self) -> dict:
        """Builtins only, so the config can live in a weights_only checkpoint."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RecognizerConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "channels" in values:
            values["channels"] = tuple(values["channels"])
        return cls(**values)


def _conv_block(c_in: int, c_out: int, pool: tuple[int, int]) -> nn.Sequential:
    """(N, c_in, H, W) → (N, c_out, H/pool[0], W/pool[1])."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool, pool),
    )


class LineRecognizer(nn.Module):
    # The dataclass config is Python-side metadata; TorchScript export leaves it out.
    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: RecognizerConfig) -> None:
        super().__init__()
        if config.height % 16:
            raise ValueError(f"height must be divisible by 16, got {config.height}")
        self.config = config
        c1, c2, c3, c4 = config.channels
        # Width is pooled in the first two blocks only (×4 in total), height in all four.
        self.cnn = nn.Sequential(
            _conv_block(1, c1, (2, 2)),
            _conv_block(c1, c2, (2, 2)),
            _conv_block(c2, c3, (2, 1)),
            _conv_block(c3, c4, (2, 1)),
        )
        features = c4 * (config.height // 16)
        self.project = nn.Sequential(nn.Linear(features, config.projection), nn.ReLU(inplace=True),
                                     nn.Dropout(config.dropout))
        self.lstm = nn.LSTM(
            config.projection,
            config.lstm_hidden,
            num_layers=config.lstm_layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.lstm_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.lstm_hidden, config.num_classes)

    @staticmethod
    def output_lengths(widths: torch.Tensor) -> torch.Tensor:
        """Frames per line for input widths (N,) → (N,); matches the CNN's floor pooling."""
        # 4 = WIDTH_REDUCTION, written out because TorchScript cannot read module globals.
        return torch.div(widths, 4, rounding_mode="floor").clamp(min=1)

    def forward(self, images: torch.Tensor, widths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """images (N, 1, H, W) float, ink high; widths (N,) true widths before right padding.

        Returns logits (N, T, num_classes) with T = W // 4. Frames past a line's own
        length are padding and must be ignored (see `output_lengths`).
        """
        features = self.cnn(images)                                   # (N, C, H/16, T)
        n, c, h, t = features.shape
        columns = features.permute(0, 3, 1, 2).reshape(n, t, c * h)   # (N, T, C·H/16)
        columns = self.project(columns)                               # (N, T, P)
        if widths is None:
            sequence, _ = self.lstm(columns)                          # (N, T, 2·hidden)
        else:
            # Packing keeps the backward LSTM from reading padding, so a line's text does
            # not depend on which batch it was recognised in.
            lengths = self.output_lengths(widths).clamp(max=t).cpu()
            packed = pack_padded_sequence(columns, lengths, batch_first=True, enforce_sorted=False)
            sequence, _ = self.lstm(packed)
            sequence, _ = pad_packed_sequence(sequence, batch_first=True, total_length=t)
        return self.classifier(self.dropout(sequence))                # (N, T, num_classes)

    @torch.no_grad()
    def grow_classes(self, num_classes: int) -> None:
        """Add output classes for new characters, keeping every old row as it was.

        New rows start at zero weight and a low bias, so the old classes keep their
        logits exactly and nearly all of their probability until training moves the new ones.
        """
        old = self.classifier
        if num_classes < old.out_features:
            raise ValueError("the output layer can only grow")
        if num_classes == old.out_features:
            return
        new = nn.Linear(old.in_features, num_classes).to(old.weight.device, old.weight.dtype)
        new.weight.zero_()
        new.bias.fill_(float(old.bias.min()) - 10.0)
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
        self.classifier = new
        self.config.num_classes = num_classes


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
