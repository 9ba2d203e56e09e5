"""The name of every Celery task, in one place.

The web layer and the Label Studio adapter never import `workers`: they enqueue by name
(webapp.queueing.enqueue_on_commit), and the workers register each task under the same name
(workers/tasks.py, workers/labeling_tasks.py, beat in workers/celery_app.py). Both read the
names from here; tests/workers/test_task_names.py checks that every name sent anywhere is one
the workers run.

A name is part of the wire protocol: renaming one strands the messages already queued under
the old name, so a rename needs the old name kept registered until the queues are drained.
"""

from __future__ import annotations

# Training (gpu queue) and its periodic checks (beat).
TRAINING_RUN = "inkloop.training.run"
TRAINING_WATCHDOG = "inkloop.training.watchdog"
TRAINING_POLICY = "inkloop.training.policy"

# Predictions from the promoted models (gpu queue).
PREDICTION_PREANNOTATE = "inkloop.prediction.preannotate"
PREDICTION_JOB = "inkloop.prediction.job"
PREDICTION_WATCHDOG = "inkloop.prediction.watchdog"

# The outbox: messages the broker did not take at commit (beat, default queue).
OUTBOX_SWEEP = "inkloop.outbox.sweep"

# The Label Studio adapter (default queue).
LABELING_PROVISION = "inkloop.labeling.provision"
LABELING_ACCOUNTS = "inkloop.labeling.accounts"
LABELING_IMPORT_PAGE = "inkloop.labeling.import_page"
LABELING_SEND_PAGES = "inkloop.labeling.send_pages"
LABELING_DELETE_TASK = "inkloop.labeling.delete_task"
LABELING_WRITE_BACK = "inkloop.labeling.write_back"
LABELING_CATCH_UP = "inkloop.labeling.catch_up"
LABELING_PUSH_PREDICTION = "inkloop.labeling.push_prediction"
LABELING_SYNC = "inkloop.labeling.sync"


def all_names() -> set[str]:
    return {value for key, value in globals().items() if key.isupper() and isinstance(value, str)}
