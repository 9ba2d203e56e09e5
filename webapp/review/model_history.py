"""Reads for the models page and the run pages: every model version with where it came from and what
its judgement said, in words a project lead reads without knowing the fields.

The words are built from the figures the judge recorded on the version (`metrics["validation"]`,
`metrics["baseline"]`, `metrics["compared_with"]`), not parsed out of the run's verdict string, so a
percentage here is always the number stored. Callers pass a project they already checked access to.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch

from webapp.projects.models import Project, Role
from webapp.training.models import ModelKind, ModelPromotion, ModelStatus, ModelVersion, RunStatus, TrainingRun
from webapp.training.services import EMPTY_PREDICTION

TRIGGERS = {
    "manual": "retrained by {user}",
    "policy": "the retrain policy (enough new verified lines)",
    "label-studio": "a training request from Label Studio",
    "again": "asked again by {user} while a run was active",
}
VIA = {"training": "by its training run", "manual": "by hand", "upload": "on upload",
       "base": "when the project was created"}


def metric_of(kind: str) -> str:
    return "cer" if kind == ModelKind.RECOGNIZER else "f1"


def percent(value) -> str:
    return f"{value * 100:.1f} %" if isinstance(value, (int, float)) else "–"


def _named(label: str) -> str:
    return f"the {label}" if label == EMPTY_PREDICTION else label


def _judgement(version: ModelVersion) -> tuple[float, float, str] | None:
    """(its score, the score of what it was compared with, that one's label), or None if never judged."""
    metrics, metric = version.metrics or {}, metric_of(version.kind)
    mine = (metrics.get("validation") or {}).get(metric)
    theirs = (metrics.get("baseline") or {}).get(metric)
    against = metrics.get("compared_with")
    if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and against:
        return float(mine), float(theirs), against
    return None


def _comparison(version: ModelVersion, mine: float, theirs: float) -> str:
    return f"val {metric_of(version.kind).upper()} {percent(mine)} vs {percent(theirs)}"


def _won(version: ModelVersion, run: TrainingRun | None) -> bool:
    # The judge's decision is the run's `promoted`; a version's status changes later (rolled back, replaced).
    return run.promoted if run is not None else version.status != ModelStatus.REJECTED


def version_verdict(version: ModelVersion, *, run: TrainingRun | None = None) -> str:
    """E.g. "beat recognizer-v1: val CER 12.3 % vs 15.0 %" or "rejected: val CER 100.0 % vs 100.0 % of ..."."""
    judgement = _judgement(version)
    if judgement is None:
        if version.source == "base":
            base = (version.metrics or {}).get("base") or {}
            score = base.get(f"val_{metric_of(version.kind)}")
            return (f"base model: val {metric_of(version.kind).upper()} {percent(score)} on other hands"
                    if isinstance(score, (int, float)) else "base model")
        if version.status == ModelStatus.FAILED:
            return "failed"
        if version.source == "uploaded":
            return "uploaded; not judged on this project"
        return "not judged yet"
    mine, theirs, against = judgement
    if _won(version, run):
        return f"beat {_named(against)}: {_comparison(version, mine, theirs)}"
    return f"rejected: {_comparison(version, mine, theirs)} of {_named(against)}"


def run_outcome(run: TrainingRun) -> str | None:
    """What came of a finished run, in words: "promoted: val CER 12.3 % vs 15.0 % of recognizer-v1",
    "rejected: val CER 100.0 % vs 100.0 % of the empty prediction (it must be lower by 0.5 points)",
    "failed: ...", "cancelled: ..."; None while it is queued or running."""
    if run.is_active:
        return None
    if run.status == RunStatus.FAILED:
        return f"failed: {(run.error or 'no reason recorded').splitlines()[0]}"
    if run.status == RunStatus.CANCELLED:
        return f"cancelled: {run.error or 'by request'}"
    version = run.model_version
    judgement = _judgement(version) if version is not None else None
    if judgement is None:
        return run.verdict or run.outcome
    mine, theirs, against = judgement
    words = f"{_comparison(version, mine, theirs)} of {_named(against)}"
    if run.promoted:
        return f"promoted: {words}"
    direction = "higher" if version.kind == ModelKind.DETECTOR else "lower"
    margin = run.project.promotion_margin * 100
    return f"rejected: {words} (it must be {direction} by {margin:g} points)"


def trigger_words(version: ModelVersion, run: TrainingRun | None) -> str:
    if version.source == "base":
        return "installed with the project"
    if version.source == "uploaded":
        return f"uploaded by {version.created_by.username if version.created_by else 'a deleted user'}"
    return run_trigger(run) if run is not None else "–"


def run_trigger(run: TrainingRun) -> str:
    user = run.triggered_by.username if run.triggered_by else "a deleted user"
    return TRIGGERS.get(run.trigger, run.trigger).format(user=user)


def training_seconds(version: ModelVersion | None, run: TrainingRun | None) -> float | None:
    """Seconds of training as the run measured them; else from its start and end (which include judging)."""
    version_figures = ((version.metrics if version else None) or {}).get("training")
    recorded = ((run.figures if run else None) or version_figures or {}).get("train_seconds")
    if isinstance(recorded, (int, float)):
        return float(recorded)
    if run is not None and run.started_at and run.finished_at:
        return (run.finished_at - run.started_at).total_seconds()
    return None


def promotion_words(promotion: ModelPromotion) -> str:
    who = f" by {promotion.promoted_by.username}" if promotion.promoted_by else ""
    when = promotion.created_at.strftime("%Y-%m-%d %H:%M")
    replaced = f", replacing {promotion.replaced.label}" if promotion.replaced else ""
    words = f"promoted {VIA.get(promotion.via, promotion.via)}{who} on {when}{replaced}"
    return f"{words}; forced although {promotion.reason}" if promotion.forced else words


@dataclass(frozen=True)
class VersionRow:
    version: ModelVersion
    run: TrainingRun | None
    score: str            # its own validation figure (CER or F1) on this project, or the base's on other hands
    verdict: str
    verdict_kind: str     # beat | rejected | base | other: for styling
    trigger: str
    train_seconds: float | None
    lines: int
    characters: int | None
    promotions: list[str]
    can_roll_back: bool   # a manager may ask to promote it (the API may still object and ask for force)


def model_history(*, project: Project) -> list[VersionRow]:
    """Every version of the project, each kind newest first."""
    promotions = ModelPromotion.objects.select_related("promoted_by", "replaced")
    versions = (ModelVersion.objects.filter(project=project).order_by("kind", "-number")
                .select_related("created_by", "training_run__triggered_by", "training_run__project")
                .prefetch_related(Prefetch("promotions", queryset=promotions)))
    is_manager = Role.rank(project.caller_role) >= Role.rank(Role.MANAGER)
    rows = []
    for version in versions:
        run = getattr(version, "training_run", None)
        metrics, metric = version.metrics or {}, metric_of(version.kind)
        own = (metrics.get("validation") or {}).get(metric)
        score = percent(own)
        if own is None and version.source == "base":
            score = f"{percent((metrics.get('base') or {}).get(f'val_{metric}'))} (other hands)"
        verdict = version_verdict(version, run=run)
        kind = verdict.split(" ", 1)[0].rstrip(":")
        characters = (metrics.get("training") or {}).get("train_characters")
        rows.append(VersionRow(
            version=version, run=run, score=score, verdict=verdict,
            verdict_kind=kind if kind in ("beat", "rejected", "base") else "other",
            trigger=trigger_words(version, run), train_seconds=training_seconds(version, run),
            lines=version.trained_on_lines, characters=characters if isinstance(characters, int) else None,
            promotions=[promotion_words(promotion) for promotion in version.promotions.all()],
            can_roll_back=is_manager and bool(version.checkpoint)
            and version.status not in (ModelStatus.PROMOTED, ModelStatus.FAILED, ModelStatus.TRAINING)))
    return rows
