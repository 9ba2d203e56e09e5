"""One module writes line history: only webapp/corpus/services.py creates LineRevision rows or
sets Line.version, so the rule "every change to a line bumps its version and writes a
LineRevision" is kept in one place. Everyone else calls its functions."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WRITER = Path("webapp/corpus/services.py")
# Django code lives in these; ml/ cannot import the models at all (tests/test_boundaries.py).
PACKAGES = ("webapp", "labeling", "workers", "bench")
CREATES = {"create", "bulk_create", "get_or_create", "update_or_create"}


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def history_writes(source: str, filename: str = "<source>") -> list[str]:
    """Each place in `source` that creates a LineRevision or assigns a line's version, as "line N: what"."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            func = node.func
            if _is_name(func, "LineRevision"):
                found.append((node.lineno, "LineRevision(...)"))
            elif (isinstance(func, ast.Attribute) and func.attr in CREATES and isinstance(func.value, ast.Attribute)
                  and func.value.attr == "objects" and _is_name(func.value.value, "LineRevision")):
                found.append((node.lineno, f"LineRevision.objects.{func.attr}(...)"))
            elif _is_name(func, "F") and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value == "version":
                found.append((node.lineno, 'F("version")'))
            elif isinstance(func, ast.Attribute) and func.attr == "update" \
                    and any(keyword.arg == "version" for keyword in node.keywords):
                found.append((node.lineno, ".update(version=...)"))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr == "version" and isinstance(part.ctx, ast.Store):
                        found.append((node.lineno, ".version = ..."))
    return [f"line {lineno}: {what}" for lineno, what in sorted(found)]


def test_only_the_corpus_services_write_line_history():
    offenders = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO)
            if relative == WRITER:
                continue
            writes = history_writes(path.read_text(), filename=str(relative))
            if writes:
                offenders[str(relative)] = writes
    assert not offenders, f"only {WRITER} may create LineRevision rows or set Line.version: {offenders}"


def test_the_writer_itself_is_seen():
    assert history_writes((REPO / WRITER).read_text())


def test_the_check_sees_every_kind_of_write():
    sample = (
        "LineRevision.objects.create(line=line)\n"
        "LineRevision.objects.bulk_create([LineRevision(line=line)])\n"
        "line.version += 1\n"
        "line.version = 3\n"
        "Line.objects.filter(pk=1).update(version=F('version') + 1)\n"
        "LineRevision.objects.filter(line=line).count()\n"   # a read: fine
        "version = line.version\n"                           # a read: fine
    )
    assert history_writes(sample) == [
        "line 1: LineRevision.objects.create(...)",
        "line 2: LineRevision(...)",
        "line 2: LineRevision.objects.bulk_create(...)",
        "line 3: .version = ...",
        "line 4: .version = ...",
        'line 5: .update(version=...)',
        'line 5: F("version")',
    ]
