"""Evaluate checkpoints on ALTO/PAGE folders; prints one JSON object.

    python -m ml.evaluate --recognizer R.pt [--detector D.pt] --data DIR...

Always: CER and WER of the recognizer on the ground-truth lines, and the calibration of
its line confidence. With a detector: detection precision/recall/F1 (IoU ≥ 0.5) and the
end-to-end page CER (detected lines matched to ground truth by box IoU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.data.layout import pair_layouts_with_images
from ml.data.lines import line_boxes, load_page, samples_from_page
from ml.evaluation import evaluate_arrays
from ml.metrics import ErrorCounts, page_char_errors
from ml.predict import Predictor
from ml.recognition import load_recognizer


def end_to_end(predictor: Predictor, folders: list[Path]) -> dict:
    from ml.detection.metrics import detection_prf, sum_prf

    detection_pages = []
    counts = ErrorCounts()
    for folder in folders:
        for xml_path, image_path in pair_layouts_with_images(folder):
            image, page = load_page(xml_path, image_path)
            truth = line_boxes(page)
            predicted = predictor.predict(image)
            detection_pages.append(detection_prf([p.bbox for p in predicted], [t.bbox for t in truth]))
            counts += page_char_errors([(p.bbox, p.text) for p in predicted], [(t.bbox, t.text) for t in truth])
    return {"detection": sum_prf(detection_pages), "end_to_end_cer": counts.rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    evaluation = evaluate_arrays(recognizer, [recognizer.prepare(s.image) for s in samples], [s.text for s in samples])
    result = evaluation.as_dict()
    result["confidence_measure"] = recognizer.measure
    if args.detector:
        result.update(end_to_end(Predictor.from_checkpoints(args.detector, args.recognizer, device=args.device), args.data))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
