"""PyTorch peer of the CompactRec CTR benchmarks (see common.py for the protocol).

tower:  416 -> 400 -> 400 -> 400 -> 1, ReLU, BCE with logits, Adam(1e-3), eager PyTorch, fp32.
deepfm: DeepFM on the benchmark's split: one nn.Embedding(sum(cardinalities), d, sparse=True) and a 1-dim one
        for the first order, bias, MLP (nn.Linear default init = CompactRec's), SparseAdam on the embeddings
        (lazy Adam, as CompactRec's sparse optimizer) and Adam on the dense weights, both at lr; mean BCE.
Threads: torch.set_num_threads(--threads, default the cores).
"""
import argparse
import os
import time

import numpy as np
import torch
from torch import nn

import common


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def tower(req):
    batch, steps, seed = int(req['batch']), int(req['steps']), int(req.get('seed', 1))
    torch.manual_seed(seed)
    x, y = common.tower_data(batch, seed)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    net = mlp([common.TOWER_INPUT, *common.TOWER_HIDDEN, 1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()

    def step(i):
        at = (i % common.POOL_BATCHES) * batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[at:at + batch]), y[at:at + batch])
        loss.backward()
        opt.step()
        return loss.item()

    first = step(0)  # warm-up outside the clock (3 steps, as ours)
    step(0)
    step(0)
    t0 = time.perf_counter()
    c0 = time.process_time()  # CPU seconds of every thread of this process
    best = float('inf')
    for i in range(1, steps + 1):
        ts = time.perf_counter()
        last = step(i)
        best = min(best, time.perf_counter() - ts)
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {'samplesPerSec': steps * batch / sec, 'bestSamplesPerSec': batch / best, 'steps': steps,
            'cpuMsPerStep': 1000 * cpu / steps,
            'firstLoss': first, 'lastLoss': last}


class DeepFM(nn.Module):
    def __init__(self, rows, F, d, hidden, init_std):
        super().__init__()
        self.emb = nn.Embedding(rows, d, sparse=True)
        self.first = nn.Embedding(rows, 1, sparse=True)
        nn.init.normal_(self.emb.weight, std=init_std)
        nn.init.normal_(self.first.weight, std=init_std)
        self.bias = nn.Parameter(torch.zeros(1))
        self.mlp = mlp([F * d, *hidden, 1])

    def forward(self, ids):
        e = self.emb(ids)  # [B, F, d]
        linear = self.first(ids).sum(dim=(1, 2)) + self.bias
        s = e.sum(1)
        fm = 0.5 * (s * s - (e * e).sum(1)).sum(1)
        deep = self.mlp(e.flatten(1)).squeeze(1)
        return linear + fm + deep


def deepfm(req):
    split = common.read_split(req['dir'])
    meta = split['meta']
    epochs, seed = int(req.get('epochs', 1)), int(req.get('seed', 0))
    torch.manual_seed(seed)
    F, d, batch, lr = len(meta['cardinalities']), int(meta['dim']), int(meta['batchSize']), float(meta['lr'])
    model = DeepFM(int(sum(meta['cardinalities'])), F, d, meta['mlp'], float(meta['initStd']))
    sparse = [model.emb.weight, model.first.weight]
    dense = [p for n, p in model.named_parameters() if not n.startswith(('emb.', 'first.'))]
    opt_sparse = torch.optim.SparseAdam(sparse, lr=lr)
    opt_dense = torch.optim.Adam(dense, lr=lr, eps=1e-8)
    loss_fn = nn.BCEWithLogitsLoss()
    ids, labels = split['train']
    ids, labels = torch.from_numpy(ids), torch.from_numpy(labels)
    n = ids.shape[0]
    rng = np.random.default_rng(seed)

    def epoch(_e):
        perm = torch.from_numpy(rng.permutation(n))
        model.train()
        for at in range(0, n, batch):
            idx = perm[at:at + batch]
            opt_sparse.zero_grad(set_to_none=True)
            opt_dense.zero_grad(set_to_none=True)
            loss = loss_fn(model(ids[idx]), labels[idx])
            loss.backward()
            opt_sparse.step()
            opt_dense.step()

    secs = common.timed_epochs(epoch, epochs)
    t_ids, _ = split['test']
    t0 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        preds = torch.cat([torch.sigmoid(model(torch.from_numpy(t_ids[a:a + 8192]))) for a in range(0, len(t_ids), 8192)])
    serve = time.perf_counter() - t0
    out = os.path.join(req['dir'], 'pytorch.preds.f32')
    preds.numpy().astype(np.float32).tofile(out)
    return {'epochSeconds': secs, 'trainSamples': n, 'predictionsPerSec': len(t_ids) / serve, 'preds': out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=os.cpu_count(), help='torch.set_num_threads (default: the cores)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    info = {'peer': 'pytorch', 'version': torch.__version__, 'threads': torch.get_num_threads()}
    common.serve({'info': lambda _r: info, 'tower': tower, 'deepfm': deepfm})


if __name__ == '__main__':
    main()
