#!/usr/bin/env python3
"""Turns the CRS regression tests into one JSON list of raw requests, for the
`prefilter_diff` example (verdict equivalence of the prefilter):

    python3 crates/rampart-waf/examples/crs_requests.py ../shared/crs-tests/v3.3.4 > /tmp/crs-requests.json

Each entry: {"id": test id, "raw": the request bytes as latin-1 text}. Requests
are built by the shared runner (../shared/tools/crs_ftw.py), so they are the
bytes the conformance run sends.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / ".." / "shared" / "tools"))
import crs_ftw  # noqa: E402

out = []
for path in crs_ftw.find_test_files(Path(sys.argv[1])):
    for case in crs_ftw.load_tests(path, run_disabled=True):
        for n, stage in enumerate(case.stages):
            try:
                raw, _ = crs_ftw.build_request(stage.input, case.fmt, f"{case.id}-{n}")
            except Exception:  # stages the runner skips
                continue
            out.append({"id": f"{case.id}/{n}", "raw": raw.decode("latin-1")})
json.dump(out, sys.stdout)
