"""R11: a department handler sees a reporter's full personal data exactly while the case is
assigned to their department; transfer or closure ends it. A Hypothesis state machine
interleaves assign, start, transfer (return + re-dispatch), feedback and close with access
attempts through the API (detail) and the reveal rule."""

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from gridgov.accounts.models import Role
from gridgov.cases import personal
from gridgov.cases import services as cs
from gridgov.cases.choices import Closure
from gridgov.cases.models import Case
from tests.factories import make_user

PHONE = "13912345670"


def test_access_always_equals_currently_assigned(w, as_user):
    w.users["wy_handler"] = make_user("wy_handler", Role.DEPARTMENT_HANDLER, region=w.community, department=w.depts["wy"])
    handlers = {"zf": "handler", "wy": "wy_handler", "cg": "cg_handler"}
    attempts = []
    for name in handlers.values():
        as_user(name)  # tokens issued outside the rolled-back runs

    class Loop(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.block = transaction.atomic()  # each run rolls back to the same world
            self.block.__enter__()
            case = cs.report_case(actor=w.users["worker"], channel="patrol", title="小广告", category=w.cats["ad"],
                                  grid=w.grids[0], reporter_name="赵六", reporter_phone=PHONE)
            self.case = cs.accept_case(actor=w.users["dispatcher"], case=case)
            self.assigned = None  # the model's own idea of who holds the case
            self.closed = False

        def teardown(self):
            transaction.set_rollback(True)
            self.block.__exit__(None, None, None)

        @property
        def status(self):
            return Case.objects.values_list("status", flat=True).get(pk=self.case.pk)

        @precondition(lambda self: not self.closed and self.status in ("accepted", "returned"))
        @rule(dept=st.sampled_from(["zf", "wy"]))
        def assign(self, dept):
            cs.dispatch_case(actor=w.users["dispatcher"], case=self.case, department=w.depts[dept])
            self.assigned = dept

        @precondition(lambda self: self.assigned and self.status == "dispatched")
        @rule()
        def start(self):
            cs.start_handling(actor=w.users[handlers[self.assigned]], case=self.case)

        @precondition(lambda self: self.assigned and self.status in ("dispatched", "in_handling"))
        @rule()
        def transfer(self):
            cs.return_case(actor=w.users[handlers[self.assigned]], case=self.case, reason="不属本部门", responsible_party="其他部门")
            self.assigned = None

        @precondition(lambda self: self.assigned and self.status == "in_handling")
        @rule()
        def feedback(self):
            cs.submit_feedback(actor=w.users[handlers[self.assigned]], case=self.case, result="已清除")

        @precondition(lambda self: not self.closed and self.status in ("handled", "accepted", "returned"))
        @rule()
        def close(self):
            if self.status == "handled":
                cs.close_case(actor=w.users["dispatcher"], case=self.case, closure=Closure.RESOLVED)
            else:
                cs.close_case(actor=w.users["dispatcher"], case=self.case, closure=Closure.NOT_RESOLVABLE, note="无法联系")
            self.closed, self.assigned = True, None

        @rule()
        def look_again(self):
            """Nothing changes; the invariant is checked once more (also after closure)."""

        @invariant()
        def access_follows_assignment(self):
            case = Case.objects.get(pk=self.case.pk)
            for dept, name in handlers.items():
                expected = self.assigned == dept and not self.closed
                r = as_user(name).get(f"/cases/{case.number}")
                full = r.status_code == 200 and r.json()["reporter"]["phone"] == PHONE
                assert r.status_code in (200, 404)
                assert full == expected, (dept, self.assigned, self.closed, case.status)
                assert personal.may_reveal(w.users[name], case) == expected
                attempts.append(full)

    run_state_machine_as_test(Loop, settings=settings(max_examples=15, stateful_step_count=8, deadline=None,
                                                      suppress_health_check=[HealthCheck.too_slow]))
    assert True in attempts and False in attempts  # both sides of the rule were exercised
