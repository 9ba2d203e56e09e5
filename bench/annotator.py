"""The simulated annotator of bench/loop.py: a person who knows the ground truth.

It works only through the interfaces a person has: Label Studio's API for boxes and
transcriptions (as its editor would save them), inkloop's REST API for the line-review
queue. Ground truth is matched to suggestions by box overlap; every character it has to
type or change is counted as effort.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests
from rapidfuzz.distance import Levenshtein

from labeling.config import BOX, IMAGE, LABEL, TRANSCRIPTION
from ml.data.layout import LineAnnotation, read_layout

MATCH_IOU = 0.3  # a suggestion over this much of a true line is "that line", with a box to fix perhaps
GOOD_BOX_IOU = 0.7  # below this the annotator redraws the box to the true one
HTTP_TIMEOUT = 60


@dataclass(frozen=True)
class TruePage:
    name: str
    image: Path
    width: int
    height: int
    lines: list[LineAnnotation]


def ground_truth(pairs: list[tuple[Path, Path]]) -> dict[str, TruePage]:
    """The pages' true lines by image file name (what inkloop calls the page's original name)."""
    pages = {}
    for layout_path, image_path in pairs:
        layout = read_layout(layout_path)
        lines = [line for line in layout.lines if line.text.strip()]
        pages[image_path.name] = TruePage(image_path.name, image_path, layout.width, layout.height, lines)
    return pages


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(truth: list[LineAnnotation], boxes: list[tuple]) -> dict[int, int]:
    """Suggestion index -> true line index, one to one, greedily by overlap."""
    pairs = sorted(((iou(line.bbox, box), s, t) for t, line in enumerate(truth) for s, box in enumerate(boxes)),
                   reverse=True)
    matched, used = {}, set()
    for overlap, s, t in pairs:
        if overlap < MATCH_IOU:
            break
        if s not in matched and t not in used:
            matched[s] = t
            used.add(t)
    return matched


@dataclass
class Review:
    """One line a person dealt with, and what it cost them."""
    at: float
    route: str            # scratch (typed in Label Studio) | page (a suggestion fixed in Label Studio) | line (REST)
    page: str
    true_chars: int
    changed_chars: int    # typed (scratch) or edit distance from the suggestion to the truth
    box_fixed: bool
    recognizer: str       # the model whose suggestion it was ("" for scratch)
    on_predicted_page: bool = False   # typed from scratch on a page the models had predicted: a line they missed
    line_id: int | None = None
    region_id: str | None = None
    text: str = ""

    @property
    def effort(self) -> float:
        return self.changed_chars / max(1, self.true_chars)

    def row(self) -> dict:
        return {**asdict(self), "effort": round(self.effort, 4)}


@dataclass
class Annotator:
    """The person: an inkloop account (REST token) and the same email's Label Studio account."""
    inkloop_url: str
    inkloop_token: str
    ls_url: str
    ls_token: str
    project_id: int
    truth: dict[str, TruePage]
    started: float = field(default_factory=time.monotonic)
    reviews: list[Review] = field(default_factory=list)
    submitted_annotations: list[dict] = field(default_factory=list)
    false_detections: int = 0  # suggested lines marked "not a text line" in the review queue

    # --- HTTP -----------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.inkloop_url}/api/projects/{self.project_id}/{path}",
                                    headers={"Authorization": f"Token {self.inkloop_token}"},
                                    timeout=HTTP_TIMEOUT, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"inkloop {method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def ls(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.ls_url}/api/{path}", timeout=HTTP_TIMEOUT,
                                    headers={"Authorization": f"Token {self.ls_token}"}, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"Label Studio {method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def now(self) -> float:
        return round(time.monotonic() - self.started, 2)

    # --- what to work on next -------------------------------------------------------------------

    def pages(self) -> list[dict]:
        return self.api("GET", "pages/", params={"page_size": 500}).json()["results"]

    def next_unlabelled_task(self) -> dict | None:
        """Before any model: the first task nobody annotated, in Label Studio's order."""
        for page in sorted(self.pages(), key=lambda page: page["id"]):
            if page["ls_task_id"] and not page["verified_line_count"] and page["original_name"] in self.truth:
                return page
        return None

    def queue(self, level: str, size: int) -> list[dict]:
        return self.api("GET", "queue/", params={"level": level, "page_size": size}).json()["results"]

    # --- Label Studio: a page, from scratch or from the model's suggestion ------------------------

    def annotate_page(self, page: dict) -> list[Review]:
        """Open the page's task, fix (or draw) every line, submit the annotation."""
        truth = self._truth_in_page_pixels(page)
        prediction = self.latest_prediction(page)
        suggested = _suggested_regions(prediction, width=page["width"], height=page["height"])
        matched = match(truth, [region["bbox"] for region in suggested])
        result, reviews = [], []
        route = "page" if prediction else "scratch"
        recognizer = (prediction or {}).get("model_version", "")
        for index, region in enumerate(suggested):
            if index not in matched:
                continue  # a box around nothing worth a line: the person deletes it
            true_line = truth[matched[index]]
            box_fixed = iou(true_line.bbox, region["bbox"]) < GOOD_BOX_IOU
            bbox = true_line.bbox if box_fixed else region["bbox"]
            result += _region(region["id"], bbox, true_line.text, width=page["width"], height=page["height"])
            reviews.append(self._review(route, page, true_line, Levenshtein.distance(region["text"], true_line.text),
                                        box_fixed, recognizer, region_id=region["id"]))
        for index, true_line in enumerate(truth):
            if index in matched.values():
                continue
            region_id = uuid.uuid4().hex[:10]
            result += _region(region_id, true_line.bbox, true_line.text, width=page["width"], height=page["height"])
            reviews.append(self._review("scratch", page, true_line, len(true_line.text), True, "", region_id=region_id,
                                        on_predicted_page=prediction is not None))
        created = self.ls("POST", f"tasks/{page['ls_task_id']}/annotations/", json={"result": result}).json()
        self.submitted_annotations.append({"annotation": created["id"], "page_id": page["id"],
                                           "regions": {review.region_id: review.text for review in reviews}})
        self.reviews += reviews
        return reviews

    def latest_prediction(self, page: dict, *, wait: float = 0) -> dict | None:
        deadline = time.monotonic() + wait
        while True:
            predictions = self.ls("GET", "predictions/", params={"task": page["ls_task_id"]}).json()
            if predictions or time.monotonic() >= deadline:
                return max(predictions, key=lambda item: item["id"], default=None)
            time.sleep(1)

    def _truth_in_page_pixels(self, page: dict) -> list[LineAnnotation]:
        true_page = self.truth[page["original_name"]]
        sx, sy = page["width"] / true_page.width, page["height"] / true_page.height
        return [LineAnnotation(bbox=(round(line.bbox[0] * sx), round(line.bbox[1] * sy),
                                     round(line.bbox[2] * sx), round(line.bbox[3] * sy)), text=line.text)
                for line in true_page.lines]

    def _review(self, route, page, true_line, changed, box_fixed, recognizer, **extra) -> Review:
        return Review(at=self.now(), route=route, page=page["original_name"], true_chars=len(true_line.text),
                      changed_chars=changed, box_fixed=box_fixed, recognizer=recognizer, text=true_line.text, **extra)

    # --- inkloop: one line from the line-review queue ---------------------------------------------

    def review_line(self, line: dict, pages_by_id: dict[int, dict]) -> Review | None:
        """Fix one suggested line through inkloop's REST API (text, and the box when it is wrong)."""
        page = pages_by_id[line["page_id"]]
        truth = self._truth_in_page_pixels(page)
        others = [other for other in self.api("GET", f"pages/{page['id']}/lines/").json()
                  if other["id"] != line["id"] and other["verified"]]
        free = [true_line for true_line in truth if not any(iou(true_line.bbox, other["bbox"]) >= MATCH_IOU
                                                            for other in others)]
        matched = match(free, [tuple(line["bbox"])])
        if 0 not in matched:
            # Nothing true there (or that line is done already): the person marks it "not a text line", as
            # the review queue offers (Alt+N), which also records a false detection for the detector to learn.
            self.api("POST", f"lines/{line['id']}/not-a-line/", json={"version": line["version"]})
            self.false_detections += 1
            return None
        true_line = free[matched[0]]
        box_fixed = iou(true_line.bbox, line["bbox"]) < GOOD_BOX_IOU
        change = {"version": line["version"], "text": true_line.text}
        if box_fixed:
            change["bbox"] = list(true_line.bbox)
        self.api("PATCH", f"lines/{line['id']}/", json=change)
        review = self._review("line", page, true_line, Levenshtein.distance(line["text"], true_line.text), box_fixed,
                              line.get("model_version") or "", line_id=line["id"])
        self.reviews.append(review)
        return review


def _suggested_regions(prediction: dict | None, *, width: int, height: int) -> list[dict]:
    """The prediction's boxes with their texts, in pixels, paired by region id."""
    if not prediction:
        return []
    boxes, texts = {}, {}
    for item in prediction.get("result") or []:
        value = item.get("value") or {}
        if item.get("type") == "polygonlabels":
            xs, ys = [x for x, _ in value["points"]], [y for _, y in value["points"]]
            boxes[item["id"]] = (round(min(xs) * width / 100), round(min(ys) * height / 100),
                                 round(max(xs) * width / 100), round(max(ys) * height / 100))
        elif item.get("type") == "rectanglelabels":
            boxes[item["id"]] = (round(value["x"] * width / 100), round(value["y"] * height / 100),
                                 round((value["x"] + value["width"]) * width / 100),
                                 round((value["y"] + value["height"]) * height / 100))
        elif item.get("type") == "textarea":
            texts[item["id"]] = " ".join(value.get("text") or [])
    return [{"id": region_id, "bbox": bbox, "text": texts.get(region_id, "")} for region_id, bbox in boxes.items()]


def _region(region_id: str, bbox, text: str, *, width: int, height: int) -> list[dict]:
    """What Label Studio's editor saves for one line: a box and its per-region transcription."""
    x0, y0, x1, y1 = bbox
    geometry = {"x": 100 * x0 / width, "y": 100 * y0 / height, "width": 100 * (x1 - x0) / width,
                "height": 100 * (y1 - y0) / height, "rotation": 0}
    common = {"id": region_id, "to_name": IMAGE, "original_width": width, "original_height": height,
              "image_rotation": 0, "origin": "manual"}
    return [{**common, "from_name": BOX, "type": "rectanglelabels", "value": {**geometry, "rectanglelabels": [LABEL]}},
            {**common, "from_name": TRANSCRIPTION, "type": "textarea", "value": {**geometry, "text": [text]}}]
