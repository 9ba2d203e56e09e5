"""Recognise line images with a recognizer checkpoint; one JSON object per image.

    python -m ml.recognize --recognizer R.pt LINE_IMAGE...
"""

from __future__ import annotations

import argparse
import json

from PIL import Image

from ml.recognition import load_recognizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.recognize", description=__doc__)
    parser.add_argument("--recognizer", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beam-width", type=int, default=0, help="0 = greedy decoding")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    recognizer = load_recognizer(args.recognizer, device=args.device)
    images = []
    for path in args.images:
        with Image.open(path) as image:
            images.append(image.convert("L"))
    recognitions = recognizer.recognize(images, batch_size=args.batch_size, beam_width=args.beam_width)
    for path, recognition in zip(args.images, recognitions):
        print(json.dumps({"image": path, **recognition.as_dict()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
