"""Rebuild CompactRec embeddings from an export (`compactrec export`), with NumPy only.

An export is one safetensors file (JSON description under __metadata__["compactrec"]) or a folder
of .npy files plus metadata.json. For each feature it holds a mapping (ID -> rows + weights, and
how rows combine) and a table in the layout of its storage kind (dense, row-wise affine codes,
ALPT codes, or CSR sparse rows); see the "reconstruct" sentence of each table in the metadata.

Library use:
    from reconstruct import load_export, table_rows, embeddings
    tensors, meta = load_export("model.safetensors")
    rows = table_rows(tensors, meta, "item")           # float32 [rows, rowDim]
    emb = embeddings(tensors, meta, "item", ids)       # float32 [len(ids), dim]

Command line (used by CompactRec's round-trip test):
    python reconstruct.py EXPORT --feature user --ids ids.npy --out emb.npy
    python reconstruct.py EXPORT --scores pairs.npy --user user --item item --out scores.npy
"""

import argparse
import json
import os
import sys

import numpy as np


def load_export(path):
    """(tensors: dict name -> np.ndarray, metadata: dict) of a safetensors file or an npy folder."""
    if os.path.isdir(path):
        with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
            meta = json.load(f)
        tensors = {n[:-4]: np.load(os.path.join(path, n)) for n in os.listdir(path) if n.endswith(".npy")}
    else:
        from safetensors import safe_open

        tensors = {}
        with safe_open(path, framework="np") as f:
            meta = json.loads(f.metadata()["compactrec"])
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
    if meta.get("format") != "compactrec-export" or meta.get("version") != 1:
        raise ValueError(f"{path}: not a version-1 compactrec-export (format={meta.get('format')}, version={meta.get('version')})")
    return tensors, meta


def _codes(codes, bits, row_dim):
    """Unsigned integer codes [rows, row_dim] from 8-bit codes or 4-bit codes packed low nibble first."""
    codes = codes.astype(np.int64)
    if bits == 8:
        return codes[:, :row_dim]
    q = np.empty((codes.shape[0], codes.shape[1] * 2), dtype=np.int64)
    q[:, 0::2] = codes & 15
    q[:, 1::2] = codes >> 4
    return q[:, :row_dim]


def table_rows(tensors, meta, feature):
    """Every row of the feature's table as float32 [rows, rowDim], by the rule of its layout."""
    t = meta["features"][feature]["table"]
    part = {k: tensors[v] for k, v in t["tensors"].items()}
    rows, d, layout = t["rows"], t["rowDim"], t["layout"]
    if layout == "dense":
        out = part["values"].astype(np.float32)
    elif layout == "rowwise-affine":
        q = _codes(part["codes"], t["bits"], d)
        out = part["bias"].astype(np.float64)[:, None] + part["scale"].astype(np.float64)[:, None] * q
    elif layout == "alpt":
        q = _codes(part["codes"], t["bits"], d) - (1 << (t["bits"] - 1))
        out = part["step"].astype(np.float64)[:, None] * q
    elif layout == "csr":
        indptr, indices = part["indptr"].astype(np.int64), part["indices"].astype(np.int64)
        row_of = np.repeat(np.arange(rows), np.diff(indptr))
        if "bits" in t:
            v = part["bias"].astype(np.float64)[row_of] + part["scale"].astype(np.float64)[row_of] * part["codes"]
        else:
            v = part["values"].astype(np.float32)
        out = np.zeros((rows, d), dtype=np.float64)
        out[row_of, indices] = v
    else:
        raise ValueError(f"feature {feature}: unknown table layout {layout!r}")
    return np.asarray(out, dtype=np.float32).reshape(rows, d)


def embeddings(tensors, meta, feature, ids):
    """Embeddings [len(ids), dim] of fitted IDs: the mapping's rows combined (sum with weights, mult, concat)."""
    f = meta["features"][feature]
    m = f["mapping"]
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= m["numIds"]):
        raise ValueError(f"feature {feature}: IDs must be in [0, {m['numIds']}); {m['unseenIds']}")
    table = table_rows(tensors, meta, feature).astype(np.float64)
    codes = tensors[m["codes"]][ids]
    weights = tensors[m["weights"]][ids].astype(np.float64)
    if m["combine"] == "concat":
        return table[codes].reshape(len(ids), -1).astype(np.float32)
    if m["combine"] == "mult":
        return np.prod(table[codes], axis=1).astype(np.float32)
    w = np.where(codes >= 0, weights, 0.0)
    return np.einsum("nk,nkd->nd", w, table[np.maximum(codes, 0)]).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description="Rebuild CompactRec embeddings or MF scores from an export (NumPy only).")
    p.add_argument("export", help="safetensors file or npy folder written by `compactrec export`")
    p.add_argument("--feature", help="feature whose embeddings to rebuild (with --ids)")
    p.add_argument("--ids", help=".npy of int IDs")
    p.add_argument("--scores", help=".npy of [n, 2] (user, item) pairs: writes their dot-product scores")
    p.add_argument("--user", default="user", help="user feature name for --scores (default user)")
    p.add_argument("--item", default="item", help="item feature name for --scores (default item)")
    p.add_argument("--out", required=True, help="output .npy")
    a = p.parse_args(argv)
    tensors, meta = load_export(a.export)
    if a.scores:
        pairs = np.load(a.scores).astype(np.int64)
        u = embeddings(tensors, meta, a.user, pairs[:, 0]).astype(np.float64)
        i = embeddings(tensors, meta, a.item, pairs[:, 1]).astype(np.float64)
        np.save(a.out, np.sum(u * i, axis=1))
    elif a.feature and a.ids:
        np.save(a.out, embeddings(tensors, meta, a.feature, np.load(a.ids)))
    else:
        p.error("give --feature with --ids, or --scores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
