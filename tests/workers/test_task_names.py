"""Task names in one place: every name the code sends is one the workers register.

The web layer enqueues by name (it never imports `workers`), so a typo or a rename on one
side would only show as messages nobody runs. This reads every `enqueue_on_commit(...)` and
`send_task(...)` in the source tree, resolves the name it sends, and checks it against the
tasks the Celery app registers.
"""

from __future__ import annotations

import ast
from pathlib import Path

from webapp import task_names
from workers.celery_app import app

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "labeling", "workers", "bench")
SENDERS = {"enqueue_on_commit", "send_task"}


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "literal"` assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _resolve(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "task_names":
        value = getattr(task_names, node.attr, None)
        return value if isinstance(value, str) else None
    return None


def sent_names(source: str, filename: str = "<source>") -> list[tuple[int, str | None]]:
    """(line, task name) for each call that sends a task by name; None where the name cannot be read."""
    tree = ast.parse(source, filename=filename)
    constants = _constants(tree)
    sent = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in SENDERS and node.args:
            sent.append((node.lineno, _resolve(node.args[0], constants)))
    return sent


def registered() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_name_sent_anywhere_is_registered_by_the_workers():
    tasks = registered()
    unknown, unreadable, seen = {}, {}, set()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            for lineno, name in sent_names(path.read_text(), filename=relative):
                if relative == "webapp/queueing.py" and name is None:
                    continue  # enqueue_on_commit itself, passing its argument on to send_task
                if name is None:
                    unreadable.setdefault(relative, []).append(lineno)
                elif name not in tasks:
                    unknown.setdefault(relative, []).append(f"line {lineno}: {name}")
                else:
                    seen.add(name)
    assert not unreadable, f"send a name from webapp.task_names, so this check can read it: {unreadable}"
    assert not unknown, f"names sent that no worker registers: {unknown}"
    assert seen, "the check found no task being sent at all"


def test_every_beat_entry_names_a_registered_task():
    tasks = registered()
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= tasks


def test_the_registry_and_the_workers_name_the_same_tasks():
    assert registered() == task_names.all_names()


def test_the_check_reads_literals_constants_and_the_registry():
    sample = (
        "from webapp import task_names\n"
        "RUN = 'inkloop.training.run'\n"
        "enqueue_on_commit(RUN, 1)\n"
        "enqueue_on_commit(task_names.LABELING_SYNC)\n"
        "sender().send_task('inkloop.nothing', args=[])\n"
        "enqueue_on_commit(name_from_somewhere)\n"
    )
    assert sent_names(sample) == [(3, "inkloop.training.run"), (4, "inkloop.labeling.sync"), (5, "inkloop.nothing"),
                                  (6, None)]
