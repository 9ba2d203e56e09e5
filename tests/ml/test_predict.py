from dataclasses import dataclass

from PIL import Image

from ml.metrics import cer
from ml.predict import PredictedLine, Predictor
from ml.recognition.tiny import TINY_TEXTS


@dataclass
class FoundLine:
    bbox: tuple[int, int, int, int]
    polygon: list[tuple[int, int]]
    score: float


class StandInDetector:
    """Returns the boxes it was given, the way a real detector returns found lines."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image):
        return [FoundLine(box, [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])], 0.9)
                for box in self.boxes]


def page_of(lines) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    page = Image.new("L", (700, 80 * len(lines) + 40), 235)
    boxes = []
    for i, line in enumerate(lines):
        x, y = 30, 20 + 80 * i
        page.paste(line.image, (x, y))
        boxes.append((x, y, x + line.image.width, y + line.image.height))
    return page, boxes


def test_predict_reads_detected_lines_in_order(tiny_recognizer, tiny_lines):
    page, boxes = page_of(tiny_lines)
    predicted = Predictor(StandInDetector(boxes), tiny_recognizer).predict(page)
    assert all(isinstance(line, PredictedLine) for line in predicted)
    expected = [r.text for r in tiny_recognizer.recognize([line.image for line in tiny_lines])]
    assert [line.text for line in predicted] == expected
    assert cer([line.text for line in predicted], TINY_TEXTS) < 0.15
    assert [line.bbox for line in predicted] == boxes
    for line in predicted:
        assert len(line.char_confidences) == len(line.text)
        assert 0.0 < line.confidence <= 1.0 and line.detection_score == 0.9
        assert line.as_dict()["polygon"][0] == list(line.polygon[0])


def test_ground_truth_boxes_read_like_detected_ones(tiny_recognizer, tiny_lines):
    page, boxes = page_of(tiny_lines)
    recognitions = Predictor(None, tiny_recognizer).recognize_regions(page, boxes)
    assert cer([r.text for r in recognitions], TINY_TEXTS) < 0.15


def test_batching_does_not_change_results(tiny_recognizer, tiny_lines):
    images = [line.image for line in tiny_lines]
    batched = Predictor(None, tiny_recognizer, batch_size=4).recognize_lines(images)
    single = Predictor(None, tiny_recognizer, batch_size=1).recognize_lines(images)
    assert [r.text for r in batched] == [r.text for r in single]
    for a, b in zip(batched, single):
        # The LSTM never sees a batch's padding, but the CNN's last few frames do (their
        # receptive field reaches past the line's end), so confidences move slightly.
        assert abs(a.confidence - b.confidence) < 0.05


def test_beam_search_reads_the_tiny_lines_too(tiny_recognizer, tiny_lines):
    predictor = Predictor(None, tiny_recognizer, beam_width=8)
    assert cer([r.text for r in predictor.recognize_lines([line.image for line in tiny_lines])], TINY_TEXTS) < 0.15
