"""Export checkpoints for serving without this repository's model classes.

    python -m ml.export --recognizer R.pt --out R.torchscript.pt [--detector D.pt --detector-out D.torchscript.pt]

Each model exports itself (`ml.recognition.export`, `ml.detection.export`): a TorchScript module
with its settings inside the same file.
"""

from __future__ import annotations

import argparse

from ml.detection.export import export_detector
from ml.recognition.export import export_recognizer, load_exported_recognizer

__all__ = ["export_recognizer", "load_exported_recognizer", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.export", description="Export checkpoints to TorchScript.")
    parser.add_argument("--recognizer", help="recognizer checkpoint")
    parser.add_argument("--out", help="where to write the exported recognizer")
    parser.add_argument("--detector", help="detector checkpoint")
    parser.add_argument("--detector-out", help="where to write the exported detector")
    args = parser.parse_args(argv)
    if not (args.recognizer and args.out) and not (args.detector and args.detector_out):
        parser.error("give --recognizer with --out, and/or --detector with --detector-out")
    if args.recognizer and args.out:
        print(export_recognizer(args.recognizer, args.out))
    if args.detector and args.detector_out:
        print(export_detector(args.detector, args.detector_out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
