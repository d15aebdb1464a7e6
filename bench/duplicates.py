"""Benchmark: duplicate candidates (gridgov.insight.duplicates) — quality and speed.

    .venv/bin/python bench/duplicates.py [--cases 1000000] [--queries 2000] [--brute 3]
                                         [--db-cases 50000] [--postgres] [--skip-text] [--skip-db]

1. **Text, real messages** (`../shared/data/messages/messages_with_votes.csv`, no locations):
   precision and recall of the text rule (LSH candidates, then Jaccard ≥ DUPLICATE_MIN_SIMILARITY)
   on hand-labelled pairs (`bench/data/duplicate_pairs.csv`: message ids and a label, no text).
   How they were labelled: every pair of the 4,326 messages was put in a stratum by the larger of
   two brute-force similarities (Jaccard of character bigrams of the title; of title + detail);
   30 pairs were drawn at random (seed 20261125) from each of the strata ≥0.7, 0.5–0.7, 0.4–0.5,
   0.3–0.4, 0.25–0.3, 0.2–0.25, 0.15–0.2 and 30 at random from all other pairs (<0.15), and each
   pair was read (titles and the start of the details) and labelled 1 when both describe the same
   concrete problem — the same place, project, company or policy item *and* the same complaint or
   request, so that one handling or one reply settles both — else 0. Precision and recall are
   estimated over all 9.3 M pairs by weighting each labelled pair by its stratum's size
   (recomputed here). The <0.15 stratum had no duplicate among its 30 pairs; duplicates hidden
   there (paraphrases sharing almost no bigram) are unknown, so recall is an upper bound.
2. **Generated cases with locations**: `--cases` open cases of a 90-day window in a 40 × 40 km
   city. Each *problem* has a location, a category radius (30, 100 or 300 m) and a real title of
   the message board as its text; 1–6 reports of it (mean ≈ 2) are paraphrased (the place prefix
   dropped, a span deleted, a filler phrase inserted) and scattered within half the radius.
   Titles recur across problems (4,326 titles, ~500,000 problems), so the same text at another
   place is a real negative. An in-process index — the same keys as the database table, in a
   sorted int64 array searched with `searchsorted`, as a B-tree would — answers `--queries`
   lookups: latency (fingerprint, buckets, key search, candidates, exact scoring), precision and
   recall against the generator's truth, and the recall against the exact rule applied to every
   case (what LSH loses). A naive brute force (score every case of the window) runs `--brute`
   times for the ratio.
3. **Database** (SQLite, and PostgreSQL with --postgres, throwaway databases): `--db-cases` cases
   and their keys stored, then the real `find_duplicates()` timed, and the cost intake pays:
   `index_case()` CPU and its one INSERT.

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = ROOT.parent / "shared" / "data" / "messages" / "messages_with_votes.csv"
PAIRS = Path(__file__).resolve().parent / "data" / "duplicate_pairs.csv"
PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def _django(url: str | None = None):
    if url:
        os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
    import django

    django.setup()


def _messages():
    with open(DATA, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _ms(values):
    values = sorted(values)
    return {"median_ms": round(statistics.median(values) * 1000, 4),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 4)}


# --- 1. text on real messages ----------------------------------------------------------------


def _stratum_sizes(rows) -> dict[str, int]:
    """Recompute the labelling strata over all pairs (brute force, sparse products)."""
    import unicodedata

    from sklearn.feature_extraction.text import CountVectorizer

    def norm(s):
        return re.sub(r"[^\w]", "", re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or "")))

    titles = [norm(r["留言主题"]) for r in rows]
    full = [t + norm(r["留言详情"]) for t, r in zip(titles, rows)]
    best = {}
    for texts in (titles, full):
        x = CountVectorizer(analyzer="char", ngram_range=(2, 2), binary=True, dtype=np.float32).fit_transform(texts)
        size = np.asarray(x.sum(1)).ravel()
        inter = (x @ x.T).tocoo()
        keep = inter.row < inter.col
        r, c, v = inter.row[keep], inter.col[keep], inter.data[keep]
        j = v / (size[r] + size[c] - v)
        for a, b, s in zip(r.tolist(), c.tolist(), j.tolist()):
            if s > best.get((a, b), 0.0):
                best[(a, b)] = s
    bounds = [(0.7, 1.01), (0.5, 0.7), (0.4, 0.5), (0.3, 0.4), (0.25, 0.3), (0.2, 0.25), (0.15, 0.2)]
    values = np.fromiter(best.values(), dtype=np.float64)
    sizes = {f"{lo}-{hi}": int(((values >= lo) & (values < hi)).sum()) for lo, hi in bounds}
    n = len(rows)
    sizes["<0.15"] = n * (n - 1) // 2 - sum(sizes.values())
    return sizes


def text_eval(thresholds=(0.15, 0.2, 0.25, 0.3, 0.4)) -> dict:
    from gridgov.insight import duplicates as dup

    rows = _messages()
    by_id = {r["留言编号"]: r for r in rows}
    with open(PAIRS, encoding="utf-8", newline="") as fh:
        labelled = list(csv.DictReader(fh))
    t0 = time.perf_counter()
    sizes = _stratum_sizes(rows)
    print(f"  strata recomputed over {len(rows) * (len(rows) - 1) // 2:,} pairs in {time.perf_counter() - t0:.0f} s: {sizes}")
    fps = {}

    def fp(mid):
        if mid not in fps:
            r = by_id[mid]
            fps[mid] = dup.Fingerprint.of(r["留言主题"], r["留言详情"])
        return fps[mid]

    per_stratum = {}
    for p in labelled:
        per_stratum.setdefault(p["stratum"], []).append(p)
    default = dup._defaults()["min_similarity"]
    out = {"pairs_labelled": len(labelled), "positives_labelled": sum(p["same_problem"] == "1" for p in labelled),
           "strata": {s: {"pairs": sizes[s], "labelled": len(ps), "positive": sum(p["same_problem"] == "1" for p in ps)}
                      for s, ps in per_stratum.items()}, "by_threshold": {}}
    for t in sorted(set(thresholds) | {default}):
        tp = fp_ = fn = 0.0
        lsh_pos = lsh_hit = 0.0
        for stratum, ps in per_stratum.items():
            w = sizes[stratum] / len(ps)
            for p in ps:
                a, b = fp(p["id_a"]), fp(p["id_b"])
                same = p["same_problem"] == "1"
                # The whole pipeline: a shared band key (same bucket: no locations) and the text rule.
                shared = a.bands is not None and b.bands is not None and bool(set(dup.keys_for(a.bands, 0)) & set(dup.keys_for(b.bands, 0)))
                verdict = dup.judge(a, b.shingles, here=None, there=None, radius_m=0, min_similarity=t, same_place=True)
                predicted = shared and verdict is not None
                tp += w * (predicted and same)
                fp_ += w * (predicted and not same)
                fn += w * ((not predicted) and same)
                if verdict is not None:
                    lsh_pos += w
                    lsh_hit += w * shared
        out["by_threshold"][str(t)] = {
            "precision": round(tp / (tp + fp_), 3) if tp + fp_ else None, "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "lsh_recall_of_rule": round(lsh_hit / lsh_pos, 3) if lsh_pos else None,
        }
    out["default_threshold"] = default
    out["estimated_duplicate_pairs"] = round(sum(
        sizes[s] * sum(p["same_problem"] == "1" for p in ps) / len(ps) for s, ps in per_stratum.items()))
    return out


# --- 2. generated cases with locations, in process ---------------------------------------------

FILLERS = ["请尽快处理", "已经好几天了", "麻烦管一管", "急", "希望早日解决", "影响出行", "居民意见很大", "多次反映"]
RADII = [30, 100, 300]
LAT0, LAT1, LON0, LON1 = 24.80, 25.16, 118.40, 118.80


def paraphrase(title: str, rng: random.Random) -> str:
    s = title
    if rng.random() < 0.3:
        s = re.sub(r"^[A-Z]\d*[市区县]", "", s)
    if len(s) > 8 and rng.random() < 0.7:
        i = rng.randrange(len(s) - 3)
        s = s[:i] + s[i + rng.randint(1, 3):]
    if rng.random() < 0.6:
        i = rng.randrange(len(s) + 1)
        s = s[:i] + rng.choice(FILLERS) + s[i:]
    return s


def paraphrase_heavy(title: str, rng: random.Random) -> str:
    """Two rounds of edits and the two halves swapped: reporters who word it differently."""
    s = paraphrase(paraphrase(title, rng), rng)
    if len(s) > 10:
        cut = rng.randrange(4, len(s) - 4)
        s = s[cut:] + s[:cut]
    return s


def generate_city(n: int, titles: list[str], seed: int = 0, heavy: bool = False):
    rng = random.Random(seed)
    texts, lat, lon, radius, problem = [], np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=np.int64)
    i = p = 0
    while i < n:
        base = rng.choice(titles)
        plat, plon = rng.uniform(LAT0, LAT1), rng.uniform(LON0, LON1)
        r = rng.choice(RADII)
        k = 1
        while k < 6 and rng.random() < 0.5:
            k += 1
        for _ in range(min(k, n - i)):
            # Scatter within half the radius, so every two reports of a problem are within it.
            d, bearing = rng.uniform(0, r / 2), rng.uniform(0, 2 * math.pi)
            lat[i] = plat + d * math.cos(bearing) / 111_320
            lon[i] = plon + d * math.sin(bearing) / (111_320 * math.cos(math.radians(plat)))
            texts.append(paraphrase_heavy(base, rng) if heavy else paraphrase(base, rng))
            radius[i], problem[i] = r, p
            i += 1
        p += 1
    return texts, lat, lon, radius, problem, p


class MemoryIndex:
    """The database table's keys in a sorted array: one `searchsorted` per lookup, like a B-tree."""

    def __init__(self, texts, lat, lon, cell_m):
        from gridgov.insight import duplicates as dup

        keys, owners = [], []
        for i, text in enumerate(texts):
            fp = dup.Fingerprint.of(text)
            if fp.bands is None:
                continue
            bucket = dup.home_bucket(lat=lat[i], lon=lon[i], grid_id=None, region_id=None, cell_m=cell_m)
            keys.append(dup.key_array(fp.bands, bucket))
            owners.append(np.full(dup.BANDS, i, dtype=np.int32))
            if i and i % 200_000 == 0:
                print(f"    {i:,} cases indexed", flush=True)
        keys, owners = np.concatenate(keys), np.concatenate(owners)
        order = np.argsort(keys, kind="stable")
        self.keys, self.owners = keys[order], owners[order]

    def candidates(self, wanted: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        hits = [self.owners[a:b] for a, b in zip(lo.tolist(), hi.tolist()) if b > a]
        return np.unique(np.concatenate(hits)) if hits else np.empty(0, dtype=np.int32)


def lookup(i, texts, lat, lon, radius, index, cfg, seen=None):
    """The production rule on the in-memory index: what find_duplicates() does around its query."""
    from gridgov.insight import duplicates as dup

    fp = dup.Fingerprint.of(texts[i])
    if fp.bands is None:
        return set()
    wanted = dup.keys_in(fp.bands, dup.search_buckets(lat=lat[i], lon=lon[i], grid_id=None, region_id=None, cell_m=cfg["cell_m"]))
    found = set()
    candidates = index.candidates(wanted).tolist()
    if seen is not None:
        seen.append(len(candidates))
    for j in candidates:
        if j == i:
            continue
        v = dup.judge(fp, dup.shingles(texts[j]), here=(lat[i], lon[i]), there=(lat[j], lon[j]),
                      radius_m=min(radius[i], cfg["cell_m"]), min_similarity=cfg["min_similarity"], same_place=False)
        if v is not None:
            found.add(j)
    return found


def exact(i, texts, lat, lon, radius, cfg, *, naive=False):
    """The same rule applied to every case: vectorised distance first, or (naive) text first for all."""
    from gridgov.insight import duplicates as dup

    fp = dup.Fingerprint.of(texts[i])
    r = min(radius[i], cfg["cell_m"])
    if naive:
        found = set()
        for j, text in enumerate(texts):
            if (j != i and dup.similarity(fp.shingles, dup.shingles(text)) >= cfg["min_similarity"]
                    and dup.distance_m(lat[i], lon[i], lat[j], lon[j]) <= r):
                found.add(j)
        return found
    dlat = np.radians(lat - lat[i])
    dlon = np.radians(lon - lon[i])
    h = np.sin(dlat / 2) ** 2 + np.cos(np.radians(lat[i])) * np.cos(np.radians(lat)) * np.sin(dlon / 2) ** 2
    near = np.flatnonzero(2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(h, 1))) <= r)
    return {int(j) for j in near if j != i and dup.similarity(fp.shingles, dup.shingles(texts[j])) >= cfg["min_similarity"]}


def generated_eval(n: int, queries: int, brute: int, seed: int = 0, heavy: bool = False) -> dict:
    from gridgov.insight import duplicates as dup

    cfg = dup._defaults()
    titles = sorted({r["留言主题"].strip() for r in _messages() if r["留言主题"].strip()})
    t0 = time.perf_counter()
    texts, lat, lon, radius, problem, problems = generate_city(n, titles, seed, heavy=heavy)
    print(f"  generated {n:,} cases of {problems:,} problems in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    index = MemoryIndex(texts, lat, lon, cfg["cell_m"])
    build = time.perf_counter() - t0
    print(f"  index: {len(index.keys):,} keys in {build:.0f} s ({build / n * 1e6:.0f} µs per case)", flush=True)
    by_problem: dict[int, list[int]] = {}
    for i, p in enumerate(problem.tolist()):
        by_problem.setdefault(p, []).append(i)
    rng = random.Random(seed + 1)
    sample = rng.sample(range(n), min(queries, n))
    for i in sample[:50]:  # warm-up
        lookup(i, texts, lat, lon, radius, index, cfg)
    times, cpu, seen, tp, predicted, truth, lsh_in_exact, exact_total = [], [], [], 0, 0, 0, 0, 0
    for i in sample:
        t, c = time.perf_counter(), time.thread_time()
        found = lookup(i, texts, lat, lon, radius, index, cfg, seen)
        cpu.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
        true = set(by_problem[int(problem[i])]) - {i}
        tp += len(found & true)
        predicted += len(found)
        truth += len(true)
        rule = exact(i, texts, lat, lon, radius, cfg)
        exact_total += len(rule)
        lsh_in_exact += len(found & rule)
    brute_times = []
    for i in sample[:brute]:
        t = time.perf_counter()
        exact(i, texts, lat, lon, radius, cfg, naive=True)
        brute_times.append(time.perf_counter() - t)
    lsh = _ms(times)
    result = {
        "cases": n, "problems": problems, "queries": len(sample), "keys": len(index.keys),
        "index_build_us_per_case": round(build / n * 1e6, 1),
        "paraphrase": "heavy" if heavy else "mild",
        "candidates_per_lookup": {"mean": round(statistics.mean(seen), 1), "p99": sorted(seen)[int(len(seen) * 0.99)], "max": max(seen)},
        "lookup": lsh, "lookup_cpu": _ms(cpu), "load_average": os.getloadavg()[0], "precision": round(tp / predicted, 4) if predicted else None, "recall": round(tp / truth, 4) if truth else None,
        "lsh_recall_of_exact_rule": round(lsh_in_exact / exact_total, 4) if exact_total else None,
        "brute_force_median_ms": round(statistics.median(brute_times) * 1000, 1) if brute_times else None,
    }
    if brute_times:
        result["ratio_brute_over_lsh"] = round(statistics.median(brute_times) * 1000 / lsh["median_ms"])
    return result


# --- 3. the database -------------------------------------------------------------------------


def db_eval(url: str, n: int, queries: int, seed: int = 0) -> dict:
    _django(url)
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from gridgov.cases import services as cs
    from gridgov.cases.models import Case
    from gridgov.insight import duplicates as dup
    from gridgov.insight.models import DuplicateKey
    from tests.factories import build_world

    with transaction.atomic():
        world = build_world()
    cfg = dup._defaults()
    titles = sorted({r["留言主题"].strip() for r in _messages() if r["留言主题"].strip()})
    texts, lat, lon, _radius, _problem, _ = generate_city(n, titles, seed)
    # Squeeze the city into the small world's four grids (118.50–118.53 × 24.90–24.92: the first three grids) so that
    # every case is inside a grid, keeping the cases' relative density per square kilometre.
    lat = np.clip(24.90 + (lat - LAT0) * 0.02 / (LAT1 - LAT0), 24.9001, 24.9199)
    lon = np.clip(118.50 + (lon - LON0) * 0.03 / (LON1 - LON0), 118.5001, 118.5299)
    grids = world.grids
    now = timezone.now()
    t0 = time.perf_counter()
    batch, keys = [], []
    for i in range(n):
        g = grids[min(2, int((lon[i] - 118.50) / 0.01))]
        batch.append(Case(number=f"D{i}", channel="patrol", title=texts[i][:200], description="", category=world.cats["litter"],
                          lat=float(lat[i]), lon=float(lon[i]), grid=g, region_id=g.region_id, scope_path=g.path,
                          owner_region=world.street, reported_at=now - timedelta(days=i % 89, seconds=i % 86400),
                          status="accepted", is_open=True))
        if len(batch) == 5000 or i == n - 1:
            with transaction.atomic():
                made = Case.objects.bulk_create(batch)
                for c in made:
                    fp = dup.Fingerprint.of(c.title)
                    if fp.bands is not None:
                        bucket = dup.home_bucket(lat=c.lat, lon=c.lon, grid_id=c.grid_id, region_id=c.region_id, cell_m=cfg["cell_m"])
                        keys.extend(DuplicateKey(case_id=c.pk, key=k) for k in dup.keys_for(fp.bands, bucket))
                DuplicateKey.objects.bulk_create(keys, batch_size=10000)
            batch, keys = [], []
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    print(f"  {connection.vendor}: {n:,} cases and their keys stored in {time.perf_counter() - t0:.0f} s", flush=True)
    sample = random.Random(seed + 2).sample(list(Case.objects.filter(number__startswith="D").values_list("pk", flat=True)),
                                            min(queries, n))
    cases = {c.pk: c for c in Case.objects.filter(pk__in=sample).select_related("category")}
    dispatcher = world.users["dispatcher"]
    for pk in sample[:20]:
        dup.find_duplicates(cases[pk], user=dispatcher)
    times, cpu_times, found = [], [], 0
    for pk in sample:
        t, c = time.perf_counter(), time.thread_time()
        found += len(dup.find_duplicates(cases[pk], user=dispatcher))
        cpu_times.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
    # What intake pays: the fingerprint and keys (CPU), and the INSERT, per new case.
    cpu, insert = [], []
    new_cases = [cs.report_case(actor=world.users["worker"], channel="patrol", title=texts[i], lat=float(lat[i]),
                                lon=float(lon[i]), category=world.cats["litter"]) for i in range(300)]
    # Inside one transaction, as in intake: the INSERT's own cost, not a commit's.
    with transaction.atomic():
        for case in new_cases:
            t = time.thread_time()
            fp = dup.Fingerprint.of(case.title, case.description)
            bucket = dup.home_bucket(lat=case.lat, lon=case.lon, grid_id=case.grid_id, region_id=case.region_id, cell_m=cfg["cell_m"])
            rows = [DuplicateKey(case_id=case.pk, key=k) for k in dup.keys_for(fp.bands, bucket)]
            cpu.append(time.thread_time() - t)
            t1 = time.perf_counter()
            DuplicateKey.objects.bulk_create(rows)
            insert.append(time.perf_counter() - t1)
    return {"vendor": connection.vendor, "cases": n, "keys": DuplicateKey.objects.count(), "find_duplicates": _ms(times), "find_duplicates_client_cpu": _ms(cpu_times), "load_average": os.getloadavg()[0],
            "candidates_per_query": round(found / len(sample), 2),
            "intake_cpu": _ms(cpu), "intake_insert": _ms(insert)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--brute", type=int, default=3)
    ap.add_argument("--db-cases", type=int, default=50_000)
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument("--heavy", action="store_true", help="generated reports worded more differently")
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-generated", action="store_true")
    ap.add_argument("--skip-db", action="store_true")
    ap.add_argument("--db-child", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.db_child:
        print("RESULT " + json.dumps(db_eval(args.db_child, args.db_cases, min(args.queries, 500))), flush=True)
        return
    _django()
    figures = {}
    if not args.skip_text:
        print("1. text on real messages (hand-labelled pairs)")
        figures["text"] = text_eval()
        for t, m in figures["text"]["by_threshold"].items():
            print(f"  Jaccard ≥ {t}: precision {m['precision']}, recall {m['recall']} (LSH keeps {m['lsh_recall_of_rule']} of the rule's pairs)")
    if not args.skip_generated:
        print(f"2. generated cases with locations ({args.cases:,})")
        g = figures["generated"] = generated_eval(args.cases, args.queries, args.brute, heavy=args.heavy)
        print(f"  lookup median {g['lookup']['median_ms']} ms, p99 {g['lookup']['p99_ms']} ms (CPU median "
              f"{g['lookup_cpu']['median_ms']} ms, load average {g['load_average']:.1f}); precision {g['precision']}, "
              f"recall {g['recall']}; LSH keeps {g['lsh_recall_of_exact_rule']} of the exact rule's pairs; "
              f"brute force {g['brute_force_median_ms']} ms (×{g.get('ratio_brute_over_lsh')}); "
              f"candidates per lookup {g['candidates_per_lookup']}")
    if not args.skip_db:
        from _harness import run_child, with_throwaway_pg

        print(f"3. database ({args.db_cases:,} cases)")
        base = [str(Path(__file__).resolve()), "--db-child"]
        extra = ["--db-cases", str(args.db_cases), "--queries", str(args.queries)]
        figures["db"] = []
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.sqlite3"
            figures["db"].append(run_child([*base, url, *extra], {**os.environ, "DATABASE_URL": url, "GRIDGOV_VAR_DIR": tmp}))
        if args.postgres:
            figures["db"].append(with_throwaway_pg(PG_URL, lambda u: run_child([*base, u, *extra], {**os.environ, "DATABASE_URL": u}),
                                                   prefix="gridgov_bench_dup"))
        for d in figures["db"]:
            print(f"  {d['vendor']}: find_duplicates median {d['find_duplicates']['median_ms']} ms, p99 {d['find_duplicates']['p99_ms']} ms; "
                  f"intake CPU median {d['intake_cpu']['median_ms']} ms, INSERT median {d['intake_insert']['median_ms']} ms")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
