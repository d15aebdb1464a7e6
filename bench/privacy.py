"""Benchmark: the CPU that personal-data protection adds to one case report.

Measures, in this process and without a database, each step intake runs for a reporter's
name and phone, and the whole field layer (`fields.prepare`) on an unsaved Case:

    phone check (phonenumbers) · blind index (HMAC-SM3) · key wrap (first report of a
    person) · two AEAD seals · prepare() with the reporter's key cached / not yet cached
    (the miss path is timed without its one upsert query, which bench/intake.py measures)
    · reading one sealed value back (decrypt)

for AES-256-GCM and SM4-GCM. The goal is well under 0.5 ms of CPU per report.

    .venv/bin/python bench/privacy.py [--n 20000]

Ends with one JSON line of results (CPU µs per operation, median of 5 rounds).
"""

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
os.environ["GRIDGOV_MASTER_KEYS"] = "1:" + base64.b64encode(os.urandom(32)).decode()
os.environ["GRIDGOV_BLIND_INDEX_KEY"] = base64.b64encode(os.urandom(32)).decode()
GOAL_US = 500.0


def timed(fn, n: int) -> float:
    """Median over 5 rounds of the CPU µs (process time: robust on a busy machine) one call of `fn(i)` takes."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for i in range(n):
            fn(i)
        rounds.append((time.process_time() - start) / n * 1e6)
    return statistics.median(rounds)


def measure(cipher: str, n: int) -> dict:
    """The figures for one cipher, µs per operation."""
    from django.conf import settings

    from gridgov.cases.models import Case
    from gridgov.privacy import crypto, fields, keys
    from gridgov.privacy.validators import normalize_phone

    args_n = n
    settings.GRIDGOV_PRIVACY = {**settings.GRIDGOV_PRIVACY, "CIPHER": cipher}
    keys.reset()
    raw = bytearray(os.urandom(32))
    entry = keys._DataKey(raw, 3600)
    keys._cache._insert(1, entry, None)
    phones = [f"138{i:08d}" for i in range(args_n)]
    subjects = [fields.subject_for("phone", p) for p in phones]
    r = {
        "phone_check_us": timed(lambda i: normalize_phone(phones[i]), args_n),
        "blind_index_us": timed(lambda i: keys.blind_index("phone", phones[i]), args_n),
        "wrap_data_key_us": timed(lambda i: keys.wrap(raw, subjects[i]), args_n),
        "seal_two_values_us": timed(lambda i: (entry.aead(keys.current_cipher()).seal(b"13812345678", b"x" * 80),
                                               entry.aead(keys.current_cipher()).seal("张三".encode(), b"x" * 80)), args_n),
    }

    # prepare() on a fresh Case, the reporter's key cached (a returning reporter).
    for s in subjects:
        keys._cache.by_subject[s] = (time.monotonic() + 3600, 1)
    size = settings.GRIDGOV_PRIVACY["CACHE_SIZE"]
    settings.GRIDGOV_PRIVACY = {**settings.GRIDGOV_PRIVACY, "CACHE_SIZE": args_n + 10}

    def prepare_cached(i):
        fields.prepare(Case(reporter_name="张三", reporter_phone=phones[i]))

    def build_only(i):
        Case(reporter_name="张三", reporter_phone=phones[i])

    r["prepare_cached_us"] = timed(prepare_cached, args_n) - timed(build_only, args_n)

    # A first-time reporter: the same plus a new key wrapped (the upsert itself is SQL).
    real_subject_key = keys.subject_key

    def fake_subject_key(subject):
        key = bytearray(os.urandom(32))
        keys.wrap(key, subject)
        return 1, keys._DataKey(key, 60)

    keys.subject_key = fake_subject_key
    keys._cache.by_subject.clear()
    r["prepare_new_reporter_us"] = timed(prepare_cached, args_n // 4) - timed(build_only, args_n // 4)
    keys.subject_key = real_subject_key
    settings.GRIDGOV_PRIVACY = {**settings.GRIDGOV_PRIVACY, "CACHE_SIZE": size}

    case = Case(reporter_name="张三", reporter_phone="13812345678")
    keys._cache._insert(1, entry, fields.subject_for("phone", "13812345678"))
    fields.prepare(case)
    envelope = case.__dict__["reporter_phone"].envelope
    r["decrypt_one_us"] = timed(lambda i: fields.open_value(case, Case._meta.get_field("reporter_phone"), envelope), args_n)
    r["intake_total_us"] = r["phone_check_us"] + r["prepare_new_reporter_us"]
    result = {k: round(v, 2) for k, v in r.items()}
    crypto.zero(raw)

    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    import django

    django.setup()
    results = {cipher: measure(cipher, args.n) for cipher in ("aes-256-gcm", "sm4-gcm")}
    width = max(len(k) for k in results["aes-256-gcm"])
    print(f"{'µs per operation':<{width}} {'AES-256-GCM':>12} {'SM4-GCM':>12}")
    for key in results["aes-256-gcm"]:
        print(f"{key:<{width}} {results['aes-256-gcm'][key]:>12.2f} {results['sm4-gcm'][key]:>12.2f}")
    worst = max(r["intake_total_us"] for r in results.values())
    print(f"worst intake total {worst:.1f} µs; goal < {GOAL_US:.0f} µs: {'met' if worst < GOAL_US else 'NOT met'}")
    print(json.dumps({"bench": "privacy", "n": args.n, "results": results, "goal_us": GOAL_US}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
