"""Keras (TensorFlow) peer of the CompactRec CTR benchmarks (see common.py for the protocol).

It runs on the tensorflow-cpu 2.21 wheel, i.e. the same libtensorflow that CompactRec's tfjs-node backend drives,
with a `tf.function` train step (graph mode, grappler's fused kernels) — what TensorFlow itself makes of the step.
tower:  416 -> 400 -> 400 -> 400 -> 1, ReLU, BCE with logits, Adam(1e-3, eps 1e-8), fp32.
deepfm: DeepFM on the benchmark's split: one Embedding(sum(cardinalities), d) and a 1-dim one (N(0, initStd)),
        bias, MLP with nn.Linear's init (VarianceScaling(1/3, fan_in, uniform) = U(+-1/sqrt(fan_in))), Adam at lr
        on everything (Keras has no lazy Adam: its update of the embedding tables is dense), mean BCE.
Threads: intra-op --threads (default the cores), inter-op --inter-threads (default 0: TensorFlow picks).
"""
import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

import common  # noqa: E402


def dense(width, act=None):
    init = keras.initializers.VarianceScaling(1 / 3, 'fan_in', 'uniform')
    return keras.layers.Dense(width, activation=act, kernel_initializer=init, bias_initializer=init)


def mlp(hidden, out=1):
    return [dense(h, 'relu') for h in hidden] + [dense(out)]


def tower(req):
    batch, steps, seed = int(req['batch']), int(req['steps']), int(req.get('seed', 1))
    keras.utils.set_random_seed(seed)
    x, y = common.tower_data(batch, seed)
    xs = [tf.constant(x[i * batch:(i + 1) * batch]) for i in range(common.POOL_BATCHES)]
    ys = [tf.constant(y[i * batch:(i + 1) * batch]) for i in range(common.POOL_BATCHES)]
    model = keras.Sequential([keras.Input((common.TOWER_INPUT,)), *mlp(common.TOWER_HIDDEN)])
    opt = keras.optimizers.Adam(1e-3, epsilon=1e-8)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    first = float(step(xs[0], ys[0]))  # trace + warm-up outside the clock (3 steps, as ours)
    step(xs[0], ys[0])
    step(xs[0], ys[0])
    t0 = time.perf_counter()
    c0 = time.process_time()  # CPU seconds of every thread of this process
    best = float('inf')
    for i in range(1, steps + 1):
        ts = time.perf_counter()
        last = step(xs[i % common.POOL_BATCHES], ys[i % common.POOL_BATCHES])
        best = min(best, time.perf_counter() - ts)  # a tf.function call on CPU returns when the step is done
    last = float(last)
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {'samplesPerSec': steps * batch / sec, 'bestSamplesPerSec': batch / best, 'steps': steps,
            'cpuMsPerStep': 1000 * cpu / steps,
            'firstLoss': first, 'lastLoss': last}


class DeepFM(keras.Model):
    def __init__(self, rows, F, d, hidden, init_std):
        super().__init__()
        init = keras.initializers.RandomNormal(stddev=init_std)
        self.emb = keras.layers.Embedding(rows, d, embeddings_initializer=init)
        self.first = keras.layers.Embedding(rows, 1, embeddings_initializer=init)
        self.bias = self.add_weight(shape=(1,), initializer='zeros', name='bias')
        self.layers_ = mlp(hidden)
        self.F, self.d = F, d

    def call(self, ids):
        e = self.emb(ids)
        linear = tf.reduce_sum(self.first(ids), axis=[1, 2]) + self.bias
        s = tf.reduce_sum(e, 1)
        fm = 0.5 * tf.reduce_sum(s * s - tf.reduce_sum(e * e, 1), 1)
        h = tf.reshape(e, [-1, self.F * self.d])
        for layer in self.layers_:
            h = layer(h)
        return linear + fm + tf.squeeze(h, 1)


def deepfm(req):
    split = common.read_split(req['dir'])
    meta = split['meta']
    epochs, seed = int(req.get('epochs', 1)), int(req.get('seed', 0))
    keras.utils.set_random_seed(seed)
    F, d, batch, lr = len(meta['cardinalities']), int(meta['dim']), int(meta['batchSize']), float(meta['lr'])
    model = DeepFM(int(sum(meta['cardinalities'])), F, d, meta['mlp'], float(meta['initStd']))
    opt = keras.optimizers.Adam(lr, epsilon=1e-8)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    ids, labels = split['train']
    ids = ids.astype(np.int32)
    n = ids.shape[0]
    model(tf.constant(ids[:2]))  # builds the weights

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)

    def epoch(_e):
        perm = rng.permutation(n)
        for at in range(0, n, batch):
            idx = perm[at:at + batch]
            step(tf.constant(ids[idx]), tf.constant(labels[idx]))

    secs = common.timed_epochs(epoch, epochs)
    t_ids, _ = split['test']
    t_ids = t_ids.astype(np.int32)
    predict = tf.function(lambda x: tf.sigmoid(model(x, training=False)), reduce_retracing=True)
    t0 = time.perf_counter()
    preds = np.concatenate([predict(tf.constant(t_ids[a:a + 8192])).numpy() for a in range(0, len(t_ids), 8192)])
    serve = time.perf_counter() - t0
    out = os.path.join(req['dir'], 'keras.preds.f32')
    preds.astype(np.float32).tofile(out)
    return {'epochSeconds': secs, 'trainSamples': n, 'predictionsPerSec': len(t_ids) / serve, 'preds': out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=os.cpu_count(), help='intra-op threads (default: the cores)')
    ap.add_argument('--inter-threads', type=int, default=0, help='inter-op threads (default 0: TensorFlow picks)')
    a = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.inter_threads)
    info = {'peer': 'keras', 'version': f'tensorflow {tf.__version__} / keras {keras.__version__}', 'threads': a.threads}
    common.serve({'info': lambda _r: info, 'tower': tower, 'deepfm': deepfm})


if __name__ == '__main__':
    main()
