"""Evaluate checkpoints on ALTO/PAGE folders; prints one JSON object.

    python -m ml.evaluate --recognizer R.pt [--detector D.pt] --data DIR...

Always: CER and WER of the recognizer on the ground-truth lines, and the calibration of
its line confidence (`ml.recognition.evaluate`). With a detector: detection
precision/recall/F1 (IoU ≥ 0.5) and the end-to-end page CER (detected lines matched to
ground truth by box IoU; `ml.detection.evaluate`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.data.layout import pair_layouts_with_images
from ml.data.lines import load_page, samples_from_page
from ml.predict import Predictor
from ml.recognition import load_recognizer
from ml.recognition.evaluate import evaluate_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognizer", required=True)
    parser.add_argument("--detector", default=None)
    parser.add_argument("--data", nargs="+", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    recognizer = load_recognizer(args.recognizer, device=args.device)
    samples = []
    for folder in args.data:
        for xml_path, image_path in pair_layouts_with_images(folder):
            image, page = load_page(xml_path, image_path)
            samples += samples_from_page(image, page, group="")
    result = evaluate_samples(recognizer, samples).as_dict()
    result["confidence_measure"] = recognizer.measure
    if args.detector:
        from ml.detection.evaluate import end_to_end

        result.update(end_to_end(Predictor.from_checkpoints(args.detector, args.recognizer, device=args.device),
                                 args.data))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
