"""Acting on duplicate groups: which file to keep, what to do with the others, and undo.

``plan_actions`` turns a ``DedupResult`` into an ``ActionPlan`` that touches
nothing (``actions.plan``, which explains the keeper policies and the actions),
``apply_plan`` carries it out after writing an undo manifest (``actions.apply``,
with its safety rules), and ``undo`` puts every file back from that manifest
(``actions.restore``); every public name of the three is importable from here.
"""

from imageprism.actions.apply import ActionResult, StepOutcome, apply_plan
from imageprism.actions.plan import (
    ACTIONS,
    KEEP_POLICIES,
    MANIFEST_NAME,
    ActionPlan,
    KeeperGroup,
    Step,
    choose_keeper,
    plan_actions,
)
from imageprism.actions.restore import manifest_roots, manifests_in, undo

__all__ = [
    "ACTIONS",
    "KEEP_POLICIES",
    "MANIFEST_NAME",
    "ActionPlan",
    "ActionResult",
    "KeeperGroup",
    "Step",
    "StepOutcome",
    "apply_plan",
    "choose_keeper",
    "manifest_roots",
    "manifests_in",
    "plan_actions",
    "undo",
]
