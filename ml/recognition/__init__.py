"""The line recognizer, in the same layout as `ml.detection`.

    recognizer = load_recognizer("best.pt")        # or bytes of a checkpoint
    recognizer.recognize([line_image])              # Recognition(text, confidence, char_confidences)

model.py (LineRecognizer), data.py (encoded lines, batches), train.py (train_recognizer),
decode.py (greedy, beam), confidence.py (measures, calibration), predict.py (Recognizer and the
checkpoint format), evaluate.py (CER/WER), export.py (TorchScript), tiny.py (a test checkpoint).
"""

from ml.recognition.predict import CHECKPOINT_KIND, Recognition, Recognizer, load_recognizer

__all__ = ["CHECKPOINT_KIND", "Recognition", "Recognizer", "load_recognizer"]
