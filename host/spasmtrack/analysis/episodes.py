"""Group per-channel EVENT records into episodes (one spasm seen on several channels = one).

The detector runs per EMG channel, so a bilateral spasm or a spasm picked up by two
electrode pairs is logged as one EVENT record per channel. Every rate, score and fit
counts *episodes*:

* Records of the SAME device on DIFFERENT channels belong to one episode when their
  intervals [onset, onset + duration] overlap or are at most ``gap_ms`` apart (default
  :data:`EPISODE_GAP_MS`). Records are taken in onset order; a record joins the open
  episode of its device when some record of *another* channel in it ends no earlier than
  ``gap_ms`` before the record's onset; otherwise it opens a new episode. Two records of
  the same channel are never merged directly (the detector already decided they are
  separate events); a record of another channel overlapping both joins them.
* Episode onset = earliest onset, offset = latest offset, peak = largest peak, flags =
  OR of the flags, config version = largest; kind: spasm_with_clonus (3) if it has both a
  tonic (1, 3) and a clonic (2, 3) part, clonus (2) if all parts are clonic, else spasm (1);
  ``channels`` = bit mask of the channels (bit c for channel c), ``n_records`` = records in it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPISODE_GAP_MS = 500   # records on different channels at most this far apart are one episode


@dataclass
class Episodes:
    """Episodes (sorted by onset) and the episode index of every input record."""

    t: np.ndarray            # onset, ms (same clock as the input)
    dur: np.ndarray          # ms, latest offset - earliest onset
    kind: np.ndarray         # 1 spasm, 2 clonus, 3 spasm with clonus
    flags: np.ndarray        # OR of the records' flags
    peak_cuv: np.ndarray     # max of the records' peaks, 0.01 uV
    cfg: np.ndarray          # max config version
    channels: np.ndarray     # bit mask of channels
    n_records: np.ndarray    # records per episode
    record_episode: np.ndarray   # per input record: its episode index


def combine_kinds(kinds: np.ndarray) -> int:
    """Kind of an episode from its records' kinds (see the module docstring)."""
    k = {int(x) for x in kinds}
    tonic = bool(k & {1, 3})
    clonic = bool(k & {2, 3})
    return 3 if tonic and clonic else (2 if clonic else 1)


def group_episodes(t: np.ndarray, dur: np.ndarray, kind: np.ndarray, flags: np.ndarray,
                   peak_cuv: np.ndarray, cfg: np.ndarray, channel: np.ndarray, device: np.ndarray,
                   gap_ms: int = EPISODE_GAP_MS) -> Episodes:
    """Group records (any order) into episodes. All arrays have one entry per record;
    times and durations in ms, ``channel`` the EMG channel, ``device`` any device id."""
    t = np.asarray(t, np.int64)
    n = t.size
    end = t + np.asarray(dur, np.int64)
    channel = np.asarray(channel, np.int64)
    device = np.asarray(device, np.int64)
    order = np.lexsort((channel, t, device))     # by device, then onset, then channel
    ep = np.empty(n, np.int64)
    n_ep = 0
    open_ep: dict[int, tuple[int, dict[int, int]]] = {}   # device -> (episode, {channel: max end})
    for i in order:
        dv, ch, on = int(device[i]), int(channel[i]), int(t[i])
        cur = open_ep.get(dv)
        if cur is not None and any(c != ch and e + gap_ms >= on for c, e in cur[1].items()):
            k, ends = cur
            ends[ch] = max(ends.get(ch, on), int(end[i]))
        else:
            k = n_ep
            n_ep += 1
            open_ep[dv] = (k, {ch: int(end[i])})
        ep[i] = k
    # reduce per episode
    out_t = np.full(n_ep, np.iinfo(np.int64).max, np.int64)
    out_end = np.full(n_ep, np.iinfo(np.int64).min, np.int64)
    np.minimum.at(out_t, ep, t)
    np.maximum.at(out_end, ep, end)
    peak = np.zeros(n_ep, np.int64)
    np.maximum.at(peak, ep, np.asarray(peak_cuv, np.int64))
    fl = np.zeros(n_ep, np.int64)
    np.bitwise_or.at(fl, ep, np.asarray(flags, np.int64))
    cv = np.zeros(n_ep, np.int64)
    np.maximum.at(cv, ep, np.asarray(cfg, np.int64))
    chm = np.zeros(n_ep, np.int64)
    np.bitwise_or.at(chm, ep, np.left_shift(1, np.clip(channel, 0, 62)))
    tonic = np.zeros(n_ep, bool)
    clonic = np.zeros(n_ep, bool)
    kind = np.asarray(kind, np.int64)
    np.logical_or.at(tonic, ep, (kind == 1) | (kind == 3))
    np.logical_or.at(clonic, ep, (kind == 2) | (kind == 3))
    k_out = np.where(tonic & clonic, 3, np.where(clonic, 2, 1)).astype(np.int8)
    nrec = np.bincount(ep, minlength=n_ep)
    s = np.argsort(out_t, kind="stable")
    remap = np.empty(n_ep, np.int64)
    remap[s] = np.arange(n_ep)
    return Episodes(t=out_t[s], dur=(out_end - out_t)[s], kind=k_out[s], flags=fl[s].astype(np.int32),
                    peak_cuv=peak[s], cfg=cv[s].astype(np.int32), channels=chm[s], n_records=nrec[s],
                    record_episode=remap[ep])
