"""Where the shared data lies beside a clone (`<repo>/../shared/data`), and the rule that binds it.

The benchmarks' new project (`NEW_PROJECT`) is what every benchmark measures a project's gain
on, from its own labels; that only means something if no base model has seen its writers or
its collection. `NewProjectGuard` is the one check of that rule. It goes by content, the page
names and the images' bytes, so a copy under another folder or file name is refused as well.
"""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BASE_DATA = SHARED_DATA / "htr-base"           # pre-training data of the base models
NEW_PROJECT = SHARED_DATA / "cremma-testaments"  # the new project of every benchmark


class NewProjectGuard:
    """Refuses any page of the new project offered as base-model data."""

    def __init__(self, new_project: Path = NEW_PROJECT) -> None:
        # Imported here: ml.checkpoints imports torch, and ml.base sets torch's thread environment
        # before anything imports it.
        from ml.checkpoints import file_sha256

        self._digest = file_sha256
        self.name = new_project.name
        present = new_project.is_dir()
        self.page_names = {path.stem for path in new_project.glob("*.xml")} if present else set()
        self.image_digests = {file_sha256(path) for path in new_project.glob("*.jpg")} if present else set()

    def check(self, xml_path: Path, image_path: Path) -> None:
        if xml_path.stem in self.page_names or self._digest(image_path) in self.image_digests:
            raise ValueError(f"{xml_path} is a page of the benchmarks' new project ({self.name}), "
                             "which must never go into a base model")
