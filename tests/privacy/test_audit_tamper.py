"""F13: with the triggers out of the way (the database owner or a superuser), every edit,
deletion, reordering, truncation or rewrite is found by `audit verify`, at the exact row."""

import datetime
import json
import os

import pytest
from django.db import connection

from gridgov.privacy import chain
from gridgov.privacy.models import AuditCheckpoint, AuditRecord
from gridgov.privacy.services import audit
from tests.privacy.conftest import raw, triggers_bypassed

pytestmark = pytest.mark.django_db
K = 25


def _fill(n: int = 60) -> list[AuditRecord]:
    out = []
    for i in range(n):
        chain._local.chain = (os.getpid(), i % 3)  # spread over three chains
        out.append(audit(actor=None, action=f"test.op{i % 4}", object_type="cases.case", object_id=str(1000 + i),
                         data={"n": i, "note": f"第{i}条 record", "nested": {"v": [i, "x"]}}, purpose="p"))
    chain._local.chain = None
    return out


def _flip(text: str, rng) -> str:
    pos = rng.randrange(len(text))
    ch = text[pos]
    flipped = chr(ord(ch) ^ 1) if ch.isascii() and ch.isalnum() and chr(ord(ch) ^ 1).isalnum() else ("a" if ch != "a" else "b")
    return text[:pos] + flipped + text[pos + 1:]


def _flip_json_leaf(value, rng):
    """Flip one character of one string leaf (the JSON stays valid, as jsonb demands)."""
    leaves = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
        elif isinstance(node, str) and node:
            leaves.append(path)

    walk(value, ())
    path = rng.choice(leaves)
    target = value
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = _flip(target[path[-1]], rng)
    return value


def _tamper_one(record_id: int, rng) -> str:
    column = rng.choice(["action", "object_id", "actor_role", "purpose", "data", "hash", "prev_hash", "at", "result"])
    (value,) = raw(f"SELECT {column} FROM privacy_auditrecord WHERE id = %s", [record_id])[0]
    if column == "data":
        new = json.dumps(_flip_json_leaf(json.loads(value) if isinstance(value, str) else value, rng), ensure_ascii=False)
    elif column == "at":
        new = AuditRecord.objects.values_list("at", flat=True).get(pk=record_id) + datetime.timedelta(microseconds=1)
    elif column == "result":
        new = "failure"
    elif column in ("purpose", "actor_role") and not value:
        new = "x"
    else:
        new = _flip(value, rng)
    raw(f"UPDATE privacy_auditrecord SET {column} = %s WHERE id = %s", [new, record_id])
    return column


def test_k_random_byte_flips_are_each_pinpointed(rng, capsys):
    records = _fill()
    columns = _columns()
    found = 0
    for _ in range(K):
        victim = rng.choice(records)
        (snapshot,) = raw("SELECT * FROM privacy_auditrecord WHERE id = %s", [victim.pk])
        with triggers_bypassed():
            column = _tamper_one(victim.pk, rng)
        report = chain.verify()
        if {p.record_id for p in report.problems} == {victim.pk} and report.first_by_chain()[victim.chain].record_id == victim.pk:
            found += 1
        else:
            pytest.fail(f"flip of {column} in record #{victim.pk}: verify reported {report.problems}")
        with triggers_bypassed():  # put the row back for the next round
            raw("DELETE FROM privacy_auditrecord WHERE id = %s", [victim.pk])
            raw(f"INSERT INTO privacy_auditrecord ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                [_db_value(v) for v in snapshot])
        assert chain.verify().ok
    print(f"F13 byte flips detected at the exact row: {found}/{K}")
    assert found == K


def _columns():
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM privacy_auditrecord WHERE 1 = 0")
        return [d[0] for d in cursor.description]


def _db_value(value):
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def test_several_flips_at_once_are_all_listed(rng):
    records = _fill()
    victims = rng.sample(records, 5)
    with triggers_bypassed():
        for v in victims:
            raw("UPDATE privacy_auditrecord SET object_id = %s WHERE id = %s", ["tampered", v.pk])
    report = chain.verify()
    assert {p.record_id for p in report.problems} == {v.pk for v in victims}
    first = min(victims, key=lambda v: (v.chain, v.seq))
    assert report.problems[0].record_id == first.pk


def test_a_deleted_row_is_named_by_its_position_and_successor():
    records = _fill(30)
    victim = next(r for r in records[10:] if r.chain == 1)
    successor = next(r for r in records if r.chain == 1 and r.seq == victim.seq + 1)
    with triggers_bypassed():
        raw("DELETE FROM privacy_auditrecord WHERE id = %s", [victim.pk])
    (problem,) = chain.verify().problems
    assert (problem.kind, problem.chain, problem.seq, problem.record_id) == ("gap", 1, victim.seq, successor.pk)


def test_reordered_rows_are_both_named():
    records = [r for r in _fill(30) if r.chain == 2]
    a, b = records[3], records[4]
    with triggers_bypassed():
        raw("UPDATE privacy_auditrecord SET seq = -1 WHERE id = %s", [a.pk])
        raw("UPDATE privacy_auditrecord SET seq = %s WHERE id = %s", [a.seq, b.pk])
        raw("UPDATE privacy_auditrecord SET seq = %s WHERE id = %s", [b.seq, a.pk])
    report = chain.verify()
    assert [p.record_id for p in report.problems] == [b.pk, a.pk]


def test_swapped_ids_break_the_insertion_order():
    records = [r for r in _fill(30) if r.chain == 0]
    a, b = records[2], records[3]
    with triggers_bypassed():
        raw("UPDATE privacy_auditrecord SET id = -1 WHERE id = %s", [a.pk])
        raw("UPDATE privacy_auditrecord SET id = %s WHERE id = %s", [a.pk, b.pk])
        raw("UPDATE privacy_auditrecord SET id = %s WHERE id = -1", [b.pk])
    (problem,) = chain.verify().problems
    assert problem.kind == "order" and problem.seq == b.seq


def test_truncating_a_chain_after_a_checkpoint_is_found():
    records = _fill(30)
    chain.write_checkpoints()
    last = max((r for r in records if r.chain == 0), key=lambda r: r.seq)
    with triggers_bypassed():
        raw("DELETE FROM privacy_auditrecord WHERE id = %s", [last.pk])
    (problem,) = chain.verify().problems
    assert problem.kind == "truncated" and problem.chain == 0 and problem.seq == last.seq


def test_a_rewritten_tail_with_correct_hashes_contradicts_the_signed_checkpoint():
    records = [r for r in _fill(30) if r.chain == 0]
    chain.write_checkpoints()
    victim = records[4]
    prev = victim.prev_hash
    with triggers_bypassed():
        for r in records[4:]:  # the attacker recomputes every hash from the victim on
            stored = AuditRecord.objects.get(pk=r.pk)
            values = {name: getattr(stored, name) for name in chain.CANONICAL_FIELDS}
            if r.pk == victim.pk:
                values["object_id"] = "forged"
            new_hash = chain.record_hash(prev, values)
            raw("UPDATE privacy_auditrecord SET object_id = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [values["object_id"], prev, new_hash, r.pk])
            prev = new_hash
    (problem,) = chain.verify().problems
    assert problem.kind == "checkpoint" and problem.record_id == records[-1].pk


def test_a_forged_checkpoint_is_found():
    _fill(6)
    chain.write_checkpoints()
    cp = AuditCheckpoint.objects.first()
    with triggers_bypassed():
        raw("UPDATE privacy_auditcheckpoint SET seq = seq + 5 WHERE id = %s", [cp.pk])
    kinds = {p.kind for p in chain.verify().problems}
    assert "checkpoint" in kinds


def test_the_triggers_refuse_edits_without_the_bypass():
    from django.db import DatabaseError, transaction

    record = _fill(2)[0]
    for sql in ("UPDATE privacy_auditrecord SET action = 'x' WHERE id = %s", "DELETE FROM privacy_auditrecord WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw(sql, [record.pk])
    chain.write_checkpoints()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("UPDATE privacy_auditcheckpoint SET seq = 0")
    assert chain.verify().ok
