"""Shared pieces of the benchmark peers (PyTorch, Keras): the line protocol and the split files.

A peer is a long-lived process driven by a CompactRec benchmark (benchmarks/src/peers.ts): it reads one JSON
request per line on stdin and answers one JSON line on stdout, so the benchmark can interleave rounds of ours and
the peers' in one run without paying the framework's import time each round. Requests:
  {"task": "info"}
  {"task": "tower", "batch": 4096, "steps": 20, "seed": 1}            -> samples/s of the 416-400-400-400-1 tower
  {"task": "deepfm", "dir": "...", "epochs": 1, "seed": 0}            -> per-epoch seconds, test predictions file
The DeepFM split is written by the benchmark (same rows as `compactrec bench ctr --format frappe`), see read_split.
"""
import json
import os
import sys
import time

import numpy as np

TOWER_FIELDS = 26
TOWER_DIM = 16
TOWER_INPUT = TOWER_FIELDS * TOWER_DIM
TOWER_HIDDEN = (400, 400, 400)
POOL_BATCHES = 4


def tower_data(batch, seed):
    """Rows ~ N(0, 1) and labels from a planted linear model: the tower's speed does not depend on the values."""
    rng = np.random.default_rng(seed)
    n = batch * POOL_BATCHES
    x = rng.standard_normal((n, TOWER_INPUT), dtype=np.float32)
    w = rng.standard_normal(TOWER_INPUT).astype(np.float32) / np.sqrt(TOWER_INPUT)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * (x @ w)))).astype(np.float32).reshape(-1, 1)
    return x, y


def read_split(d):
    """The split a benchmark wrote to directory d: meta.json + {train,test}.{ids.i32,labels.f32}.

    ids are per-field IDs, row-major [n, F]; the peer adds per-field offsets to address one table of
    sum(cardinalities) rows (the usual DeepFM layout; equal to per-field tables for lookups and lazy Adam)."""
    with open(os.path.join(d, 'meta.json')) as f:
        meta = json.load(f)
    F = len(meta['cardinalities'])
    out = {'meta': meta}
    for part in ('train', 'test'):
        ids = np.fromfile(os.path.join(d, f'{part}.ids.i32'), dtype=np.int32).reshape(-1, F)
        labels = np.fromfile(os.path.join(d, f'{part}.labels.f32'), dtype=np.float32)
        offsets = np.concatenate([[0], np.cumsum(meta['cardinalities'])[:-1]]).astype(np.int64)
        out[part] = (ids.astype(np.int64) + offsets[None, :], labels)
    return out


def serve(handlers):
    """Answers requests on stdin until EOF; an error becomes {"error": "..."} and the peer keeps serving."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            fn = handlers.get(req.get('task'))
            if fn is None:
                raise ValueError(f"unknown task {req.get('task')!r}; use one of {sorted(handlers)}")
            res = fn(req)
        except Exception as err:  # reported to the benchmark, which prints it
            res = {'error': f'{type(err).__name__}: {err}'}
        sys.stdout.write(json.dumps(res) + '\n')
        sys.stdout.flush()


def timed_epochs(train_epoch, epochs):
    """Seconds of each epoch (the framework's set-up and warm-up excluded by the caller)."""
    secs = []
    for e in range(epochs):
        t0 = time.perf_counter()
        train_epoch(e)
        secs.append(time.perf_counter() - t0)
    return secs
