"""The case loop (数字城管 seven steps and its side paths). Every transition is one function
here: it checks the actor's right, validates input, changes state, and writes a timeline
entry and an audit record in one transaction; an illegal transition raises
`IllegalTransition` and writes nothing.

    report → accept | reject | merge → dispatch → start → feedback → verify → close → evaluate
    side paths: self_resolve, return → dispatch, extension, supervise, escalate, hang/resume, reopen
"""

from .aftercare import (  # noqa: F401
    correct_location,
    evaluate_case,
    reopen_case,
)
from .attention import (  # noqa: F401
    escalate_case,
    hang_case,
    resume_case,
    supervise_case,
)
from .handling import (  # noqa: F401
    close_case,
    decide_extension,
    dispatch_case,
    request_extension,
    return_case,
    start_handling,
    submit_feedback,
    suggest_dispatch,
    verify_case,
)
from .intake import (  # noqa: F401
    accept_case,
    merge_case,
    reject_case,
    report_case,
    self_resolve_case,
)

__all__ = [
    "report_case",
    "accept_case",
    "reject_case",
    "merge_case",
    "self_resolve_case",
    "suggest_dispatch",
    "dispatch_case",
    "start_handling",
    "return_case",
    "request_extension",
    "decide_extension",
    "submit_feedback",
    "verify_case",
    "close_case",
    "supervise_case",
    "escalate_case",
    "hang_case",
    "resume_case",
    "evaluate_case",
    "reopen_case",
    "correct_location",
]
