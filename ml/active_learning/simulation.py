"""Replay labelling on transcribed pages: does a strategy reach a given CER with fewer labels?

    seed set (random, the same for every strategy of a seed) → train (from scratch, or
    fine-tuning `init`, e.g. the shipped base recognizer)
    repeat `rounds` times:
        the strategy picks `batch_lines` unlabelled lines (or lines up to `batch_chars`
        characters: what people type) → the oracle reveals their text
        → retrain, warm-started from the previous round → test CER

Every strategy gets the same compute: each round trains exactly `round_steps`
optimisation steps of `batch_size` lines, however many lines are labelled, so a
strategy cannot win by training longer. The temperature of the calibrated measure is
refitted on the validation writers at the end of every round (training does it when it
keeps its best checkpoint).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ml.active_learning.pool import LabelPool
from ml.active_learning.scoring import candidate_scores
from ml.active_learning.strategies import CandidateScores, get_strategy, needs_labelled_embeddings, needs_model
from ml.data.lines import LineSample
from ml.recognition.evaluate import evaluate_arrays
from ml.recognition import Recognizer
from ml.recognition.train import TrainConfig, train_recognizer


@dataclass
class SimulationConfig:
    train: TrainConfig                   # model, batch size, learning rate, augmentation
    seed_lines: int = 100                # labelled before the first round, at random
    batch_lines: int = 50                # labelled per round
    rounds: int = 6
    seed_steps: int = 600                # optimisation steps on the seed set (from scratch)
    round_steps: int = 300               # optimisation steps per round (warm start)
    candidates: int | None = None        # unlabelled lines scored per round; None = the whole pool
    batch_chars: int | None = None       # label lines up to this many characters per round instead of batch_lines
    init: Path | None = None             # the checkpoint seed models fine-tune (None: trained from scratch)
    device: str = "cpu"
    threads: int = 1                     # torch threads per simulation process


@dataclass
class RoundRecord:
    strategy: str
    seed: int
    round: int                           # 0 = the seed set
    labelled_lines: int
    labelled_chars: int
    test_cer: float
    picked: list[str] = field(default_factory=list)     # ids labelled in this round
    seconds: float = 0.0


@dataclass
class SeedModel:
    """The model trained on a seed's random seed set; every strategy of that seed starts from it."""
    seed: int
    checkpoint: Path
    labelled: list[str]
    test_cer: float
    seconds: float


def exact_steps(lines: Sequence[LineSample], steps: int, batch_size: int, rng: np.random.Generator) -> list[LineSample]:
    """`steps × batch_size` lines: whole shuffled passes over `lines`, the last one cut short.

    Trained for one epoch without a column limit, this is exactly `steps` batches, so the
    compute of a round does not grow with the labelled set.
    """
    needed = steps * batch_size
    chosen: list[int] = []
    while len(chosen) < needed:
        chosen += rng.permutation(len(lines)).tolist()
    return [lines[i] for i in chosen[:needed]]


def train_round(lines: Sequence[LineSample], val: Sequence[LineSample], *, steps: int, config: SimulationConfig,
                init: Path | None, out_dir: Path, seed: int) -> Path:
    """Train `steps` steps on `lines` (from `init` if given) and return the checkpoint."""
    train_config = dataclasses.replace(
        config.train, max_columns=None, patience=10**9, checkpoint_every=10**9,
        warmup_steps=min(config.train.warmup_steps, max(1, steps // 5)),
    )
    batch = exact_steps(lines, steps, train_config.batch_size, np.random.default_rng([seed, 7]))
    result = train_recognizer(batch, val, out_dir=out_dir, config=train_config, init=init, epochs=1,
                              device=config.device, seed=seed, resume=False, show_progress=False)
    return result.best_path


def measure_test_cer(checkpoint: Path, test: Sequence[LineSample], device: str) -> float:
    """CER of greedy readings on the test writers' lines."""
    recognizer = Recognizer.load(checkpoint, device=device)
    arrays = [recognizer.prepare(line.image) for line in test]
    return evaluate_arrays(recognizer, arrays, [line.text for line in test], with_calibration=False).cer


def train_seed_model(data: LabelPool, config: SimulationConfig, seed: int, out_dir: Path) -> SeedModel:
    """Label `seed_lines` pool lines at random and train from scratch on them."""
    started = time.monotonic()
    rng = np.random.default_rng([seed, 0])
    chosen = rng.choice(len(data.pool), size=min(config.seed_lines, len(data.pool)), replace=False).tolist()
    seed_set = [data.pool[i] for i in chosen]
    checkpoint = train_round(seed_set, data.val, steps=config.seed_steps, config=config, init=config.init,
                             out_dir=out_dir, seed=seed)
    cer = measure_test_cer(checkpoint, data.test, config.device)
    return SeedModel(seed, checkpoint, [line.id for line in seed_set], cer, time.monotonic() - started)


def simulate(strategy: str, data: LabelPool, config: SimulationConfig, start: SeedModel,
             out_dir: Path) -> list[RoundRecord]:
    """The rounds of one strategy from one seed model; the seed round comes first."""
    by_id = {line.id: line for line in data.pool}
    labelled = list(start.labelled)
    chars = sum(len(by_id[i].text) for i in labelled)
    records = [RoundRecord(strategy=strategy, seed=start.seed, round=0, labelled_lines=len(labelled),
                           labelled_chars=chars, test_cer=start.test_cer, picked=list(labelled),
                           seconds=start.seconds)]
    choose = get_strategy(strategy)
    # crc32, not hash(): the picks must not change with Python's per-process hash salt.
    rng = np.random.default_rng([start.seed, zlib.crc32(strategy.encode())])
    checkpoint, previous_dir = start.checkpoint, None
    for round_number in range(1, config.rounds + 1):
        started = time.monotonic()
        taken = set(labelled)
        unlabelled = [line.id for line in data.pool if line.id not in taken]
        candidates = unlabelled
        if config.candidates is not None and config.candidates < len(unlabelled):
            drawn = np.sort(rng.choice(len(unlabelled), size=config.candidates, replace=False)).tolist()
            candidates = [unlabelled[i] for i in drawn]
        scores = strategy_scores(strategy, checkpoint, [by_id[i] for i in candidates], [by_id[i] for i in labelled],
                                 config.device)
        picked = pick(choose, candidates, scores, config, rng, by_id)
        labelled += picked
        chars += sum(len(by_id[i].text) for i in picked)
        round_dir = out_dir / f"round-{round_number}"
        checkpoint = train_round([by_id[i] for i in labelled], data.val, steps=config.round_steps, config=config,
                                 init=checkpoint, out_dir=round_dir, seed=start.seed * 1000 + round_number)
        if previous_dir is not None:
            shutil.rmtree(previous_dir, ignore_errors=True)     # only the latest round's checkpoint is kept
        previous_dir = round_dir
        cer = measure_test_cer(checkpoint, data.test, config.device)
        records.append(RoundRecord(strategy=strategy, seed=start.seed, round=round_number,
                                   labelled_lines=len(labelled), labelled_chars=chars, test_cer=cer, picked=picked,
                                   seconds=time.monotonic() - started))
    return records


def pick(choose, candidates: list[str], scores: CandidateScores | None, config: SimulationConfig,
         rng: np.random.Generator, by_id: dict[str, LineSample]) -> list[str]:
    """The strategy's picks for one round: `batch_lines` lines, or with `batch_chars` the lines it ranks first
    until their characters reach that budget (so a strategy that favours long lines pays for them)."""
    if config.batch_chars is None:
        return choose(candidates, scores, config.batch_lines, rng)
    mean_length = max(1.0, float(np.mean([len(by_id[i].text) for i in candidates])))
    ranked = choose(candidates, scores, min(len(candidates), 2 * int(np.ceil(config.batch_chars / mean_length))), rng)
    picked, chars = [], 0
    for line_id in ranked:
        if chars >= config.batch_chars:
            break
        picked.append(line_id)
        chars += len(by_id[line_id].text)
    return picked


def strategy_scores(strategy: str, checkpoint: Path, candidates: Sequence[LineSample], labelled: Sequence[LineSample],
                    device: str) -> CandidateScores | None:
    """What the strategy reads about the candidates; None for strategies that ignore the model."""
    if not needs_model(strategy):
        return None
    recognizer = Recognizer.load(checkpoint, device=device)
    reference = [recognizer.prepare(line.image) for line in labelled] if needs_labelled_embeddings(strategy) else None
    return candidate_scores(recognizer, [recognizer.prepare(line.image) for line in candidates], reference)


# ------------------------------------------------------------------ many runs at once

_shared: dict[str, object] = {}


def _start_worker(data: LabelPool, config: SimulationConfig) -> None:
    # Each process gets its own threads: two one-thread processes use two cores better
    # than one two-thread process for models this small.
    torch.set_num_threads(config.threads)
    _shared.update(data=data, config=config)


def _seed_task(seed: int, out_dir: Path) -> SeedModel:
    return train_seed_model(_shared["data"], _shared["config"], seed, out_dir)       # type: ignore[arg-type]


def _strategy_task(strategy: str, start: SeedModel, out_dir: Path) -> list[RoundRecord]:
    return simulate(strategy, _shared["data"], _shared["config"], start, out_dir)      # type: ignore[arg-type]


def run_benchmark(data: LabelPool, strategies: Sequence[str], seeds: Sequence[int], config: SimulationConfig,
                  out_dir: Path, *, jobs: int = 1, show_progress: bool = True) -> list[RoundRecord]:
    """Every strategy from every seed; seed models are trained once and shared by the strategies.

    Runs are independent, so `jobs` processes share them out.
    """
    for name in strategies:
        get_strategy(name)                    # fail before any training on a misspelt name
    work = out_dir / "checkpoints"
    records: list[RoundRecord] = []
    if jobs == 1:
        # In this process: simpler to debug, and nothing to gain from a pool of one.
        seed_models = [train_seed_model(data, config, s, work / f"seed-{s}")
                       for s in tqdm(seeds, desc="seed models", disable=not show_progress)]
        for start in seed_models:
            for name in tqdm(strategies, desc=f"strategies, seed {start.seed}", disable=not show_progress):
                records += simulate(name, data, config, start, work / name / f"seed-{start.seed}")
        return sorted(records, key=lambda r: (r.strategy, r.seed, r.round))
    context = get_context("spawn" if config.device.startswith("cuda") else "fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker,
                             initargs=(data, config)) as pool:
        seed_futures = [pool.submit(_seed_task, s, work / f"seed-{s}") for s in seeds]
        runs: list[Future] = []
        # A seed's strategies start as soon as its model is ready, so no process waits for the last seed.
        for done in tqdm(as_completed(seed_futures), total=len(seeds), desc="seed models", disable=not show_progress):
            start = done.result()
            runs += [pool.submit(_strategy_task, name, start, work / name / f"seed-{start.seed}")
                     for name in strategies]
        for future in tqdm(as_completed(runs), total=len(runs), desc="strategy runs", disable=not show_progress):
            records += future.result()
    return sorted(records, key=lambda r: (r.strategy, r.seed, r.round))
