#!/usr/bin/env python3
"""Writes a small pool shaped like the paper's own pool files, for
perf/bench-train's small-pool figures and for trying dualpilot-train on one:
a pickled ExperiencePool of one episode (done always 0), 7 features in the
paper's order, enqueue / drop / mark near 83 / 15 / 2 %, probabilities on
the kernel's fixed-point scale (1.0 at 2^31 - 1).

The decisions follow a PIE-style rule with de-randomisation, which a
model can learn but only from the history and through noise:
  - a queue delay that wanders (mean-reverting, with bursts) and a drop
    probability p updated from it every 15 decisions, PI-style (so p
    carries the delay's history);
  - a burst allowance that counts down from 150 ms after the queue has been
    idle, during which nothing is dropped or marked (nor accumulated);
  - per queue an accumulated probability: each Classic packet adds p, each
    L4S packet 2p (the coupling), and it restarts at 0 after a drop or mark;
  - a Classic packet is dropped when the accumulator reaches 0.85, an L4S
    packet is marked when it reaches 1.0 (deterministic);
  - the accumulator is *recorded* with Gaussian noise (sd 0.02), so near the
    thresholds the current state alone is ambiguous; the true value is the
    sum of p since the queue's last drop or mark, which the window shows.
usage: perf/small_pool.py -o OUT.pkl [--decisions 2500] [--seed 1]
"""
import argparse
import pickle

import numpy as np

FIXED_ONE = 2147483647


class ExperiencePool:
    """The paper's pool object: four parallel lists."""

    def __init__(self):
        self.states, self.actions, self.rewards, self.dones = [], [], [], []


def make(decisions, seed):
    rng = np.random.default_rng(seed)
    pool = ExperiencePool()
    target, tupdate, max_burst = 15000.0, 15, 150000.0
    delay, delay_old, p = 12000.0, 12000.0, 0.0
    burst = max_burst
    accu = [0.0, 0.0]  # Classic, L4S
    qlen = 0.0
    for t in range(decisions):
        # The delay: mean-reverting around 14 ms with bursts and idle spells.
        delay += 0.05 * (14000 - delay) + rng.normal(0, 1200)
        if rng.random() < 0.004:
            delay += rng.uniform(10000, 30000)
        if rng.random() < 0.002:
            delay = 0.0
        delay = max(0.0, delay)
        if t % tupdate == 0:
            p += 0.125e-6 * (delay - target) * 8 + 1.25e-6 * (delay - delay_old) * 8
            p = min(max(p, 0.0), 1.0)
            delay_old = delay
            if delay < 1000 and p == 0.0:
                burst = max_burst
            else:
                burst = max(0.0, burst - tupdate * 1000.0)
        l4s = 1 if rng.random() < 0.08 else 0
        length = 64 if rng.random() < 0.15 else 1514
        qlen = max(0.0, delay * 1.25 + rng.normal(0, 200))
        if burst == 0:
            accu[l4s] += 2 * p if l4s else p
        if burst > 0:
            action = 0
        elif l4s and accu[1] >= 1.0:
            action = 2
        elif not l4s and accu[0] >= 0.85:
            action = 1
        else:
            action = 0
        seen_accu = max(0.0, accu[l4s] + rng.normal(0, 0.02))
        if action:
            accu[l4s] = 0.0
        state = np.array([l4s, burst, p * FIXED_ONE, delay, seen_accu * FIXED_ONE, qlen, length], dtype=np.float32)
        pool.states.append(state)
        pool.actions.append(action)
        pool.rewards.append(length / (delay + 1000.0))
        pool.dones.append(0)
    return pool


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Example:\n  perf/small_pool.py -o pool.pkl --decisions 5000 --seed 2")
    ap.add_argument("-o", "--out", help="the pickled pool to write")
    ap.add_argument("out_given", nargs="?", metavar="OUT", help=argparse.SUPPRESS)  # the old spelling
    ap.add_argument("--decisions", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out = args.out or args.out_given
    if not args.out:
        ap.error("-o/--out is required")
    pool = make(args.decisions, args.seed)
    with open(args.out, "wb") as f:
        pickle.dump(pool, f)
    counts = np.bincount(pool.actions, minlength=3) / len(pool.actions)
    # What the recorded (noisy) current state alone supports: the rule applied
    # to the recorded accumulator, over the last 20 % (the usual held-out part).
    states, actions = np.array(pool.states, dtype=np.float64), np.array(pool.actions)
    seen, l4s, burst = states[:, 4] / FIXED_ONE, states[:, 0] == 1, states[:, 1]
    rule = np.where(burst > 0, 0, np.where(l4s, np.where(seen >= 1.0, 2, 0), np.where(seen >= 0.85, 1, 0)))
    cut = int(len(actions) * 0.8)
    print(f"{args.out}: {len(pool.actions)} decisions, enqueue {100 * counts[0]:.1f} %, drop {100 * counts[1]:.1f} %, "
          f"mark {100 * counts[2]:.1f} %")
    print(f"heldout_current_state_rule: {(rule[cut:] == actions[cut:]).mean():.4f}")


if __name__ == "__main__":
    main()
