"""A small fully convolutional network that marks line bodies on a downscaled page.

The network sees a grayscale page resized so its long side is `input_long_side`
pixels and predicts, at `1 / output_stride` of that resolution, the probability
that a pixel lies in the shrunk body of a text line (the central band of the
line, so that lines whose boxes overlap still come out as separate blobs).
`ml.detection.postprocess` turns that map into line boxes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class DetectorConfig:
    input_long_side: int = 640      # the page is resized to this long side before the network
    channels: tuple[int, int, int] = (24, 48, 64)  # widths at strides 2, 4 and 8
    output_stride: int = 2          # the probability map is this many times smaller than the input
    body_shrink: float = 0.4        # fraction of each column's line height kept in the target band

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["channels"] = list(self.channels)
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "DetectorConfig":
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in payload.items() if key in known}
        if "channels" in values:
            values["channels"] = tuple(values["channels"])
        return cls(**values)


# The input must be divisible by the deepest stride so skip connections line up.
NETWORK_STRIDE = 8


def conv_block(in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU; `(N, in, H, W) -> (N, out, H/stride, W/stride)`."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class LineBodyNet(nn.Module):
    """A three-level U-Net with dilated convolutions at the bottom for context.

    Dilations widen the receptive field (about 100 input pixels) so the network
    can tell a gap between two lines from a gap between two words.
    """

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        if config.output_stride not in (2, 4):
            raise ValueError("output_stride must be 2 or 4")
        c1, c2, c3 = config.channels
        self.output_stride = config.output_stride
        self.stem = nn.Sequential(conv_block(1, c1, stride=2), conv_block(c1, c1))
        self.down1 = nn.Sequential(conv_block(c1, c2, stride=2), conv_block(c2, c2))
        self.down2 = nn.Sequential(
            conv_block(c2, c3, stride=2), conv_block(c3, c3, dilation=2), conv_block(c3, c3, dilation=4)
        )
        self.up1 = conv_block(c3 + c2, c2)
        self.up2 = conv_block(c2 + c1, c1) if config.output_stride == 2 else None
        self.head = nn.Conv2d(c1 if config.output_stride == 2 else c2, 1, 1)

    def forward(self, pages: torch.Tensor) -> torch.Tensor:
        """`(N, 1, H, W)` gray pages in [0, 1], H and W multiples of 8 -> `(N, 1, H/s, W/s)` logits,
        s = output_stride."""
        ink = 1.0 - pages
        # Per-page standardisation: paper tone and ink darkness vary a lot between scans.
        mean = ink.mean(dim=(2, 3), keepdim=True)
        std = ink.std(dim=(2, 3), keepdim=True)
        x = (ink - mean) / (std + 1e-3)
        skip1 = self.stem(x)                # (N, c1, H/2, W/2)
        skip2 = self.down1(skip1)           # (N, c2, H/4, W/4)
        bottom = self.down2(skip2)          # (N, c3, H/8, W/8)
        x = F.interpolate(bottom, size=skip2.shape[2:], mode="bilinear", align_corners=False)
        x = self.up1(torch.cat([x, skip2], dim=1))  # (N, c2, H/4, W/4)
        if self.up2 is not None:
            x = F.interpolate(x, size=skip1.shape[2:], mode="bilinear", align_corners=False)
            x = self.up2(torch.cat([x, skip1], dim=1))  # (N, c1, H/2, W/2)
        return self.head(x)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
