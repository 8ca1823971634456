"""Compiled kernels of the batched radial power flow (see :mod:`powergrid.powerflow.batched`).

Why numba: a copy of the default network is ~80 buses, so one sweep over it is
~1 microsecond of arithmetic. In numpy every sweep level would be a separate array
call (~1-3 us of overhead each, ~30 levels deep), and a batched sparse LU is no
better; the only way to stay near the arithmetic cost is compiled loops. The
copies are independent, so the outer loop over copies runs in parallel threads
(``prange``) and one copy's failure cannot touch another copy's numbers.

Notation (all per copy, buses in breadth-first order from the slack at position 0):
``par[i]`` is the parent position of bus ``i`` (``i >= 1``), the tree edge that
connects them is branch row ``edge_row[i]``. Every branch row has one or more
*states* (one per tap position for tap-changing transformers, else one); a copy's
state of row ``r`` is ``row_off[r] + tapk[copy, row_trafo[r]]`` (or ``row_off[r]``
when ``row_trafo[r] < 0``). Per state the tables hold the two-port seen from the
tree: with ``u`` = parent end, ``d`` = child end,

* ``ca = Yuu - Yud Ydu / Ydd`` and ``cb = Yud / Ydd``: current entering the edge at
  its parent end, ``I_u = ca V_u + cb I_d``;
* ``cc = 1 / Ydd`` and ``cd = -Ydu / Ydd``: child voltage, ``V_d = cc I_d + cd V_u``,

where ``I_d`` is the current the child's subtree pushes into the edge. These are
the exact branch equations (no approximation), so the fixed point of the sweep is
the exact power-flow solution of the admittance model.
"""

from __future__ import annotations

import types

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _state(r: int, n: int, row_off: np.ndarray, row_trafo: np.ndarray, tapk: np.ndarray) -> int:
    k = row_trafo[r]
    if k < 0:
        return row_off[r]
    return row_off[r] + tapk[n, k]


@nb.njit(cache=True)
def _bus_injections(n, s, lp, lq, pos_l, w_l, sp, sq, pos_s, w_s, tp, tq, pos_t, w_t):
    """Specified complex injection (p.u., generator convention) per bus position."""
    s[:] = 0.0
    for e in range(pos_l.size):
        if pos_l[e] >= 0:
            s[pos_l[e]] += w_l[e] * complex(lp[n, e], lq[n, e])
    for e in range(pos_s.size):
        if pos_s[e] >= 0:
            s[pos_s[e]] += w_s[e] * complex(sp[n, e], sq[n, e])
    for e in range(pos_t.size):
        if pos_t[e] >= 0:
            s[pos_t[e]] += w_t[e] * complex(tp[n, e], tq[n, e])


@nb.njit(cache=True)
def _sweeps(v, s, ysh, par, a, b, c, d, jd, max_iter, tol):
    """Backward/forward sweeps until the largest voltage update is below ``tol`` (p.u.).

    Returns ``(converged, iterations)``. Stops early on a non-finite or absurd update
    (|dV| > 10 pu): that copy has no solution near its start.
    """
    nbus = v.size
    tol2 = tol * tol
    for it in range(max_iter):
        for i in range(nbus):
            vi = v[i]
            # conj(s / v) = conj(s) v / |v|^2: one real division instead of a complex one
            inv = 1.0 / (vi.real * vi.real + vi.imag * vi.imag)
            jd[i] = s[i].conjugate() * vi * inv - ysh[i] * vi
        for i in range(nbus - 1, 0, -1):
            p = par[i]
            jd[p] -= a[i] * v[p] + b[i] * jd[i]
        dv2 = 0.0
        for i in range(1, nbus):
            vn = c[i] * jd[i] + d[i] * v[par[i]]
            dr = vn.real - v[i].real
            di = vn.imag - v[i].imag
            diff2 = dr * dr + di * di
            if not diff2 <= dv2:  # also catches NaN
                dv2 = diff2
            v[i] = vn
        if dv2 < tol2:
            return True, it + 1
        if not dv2 <= 100.0:
            return False, it + 1
    return False, max_iter


def _solve_impl(
    active, lp, lq, pos_l, w_l, sp, sq, pos_s, w_s, tp, tq, pos_t, w_t,
    tapk, par, edge_row, row_off, row_trafo, ca, cb, cc, cd,
    ysh, ho_pos, ho_row, ho_val, v_ref, vstate, noload, max_iter, tol,
    out_ok, out_it, out_s_root, n_threads,
):  # fmt: skip
    n_copies, nbus = vstate.shape
    # one chunk of consecutive copies per thread, scratch allocated once per chunk:
    # allocating inside the parallel loop serialises the threads on the allocator.
    # (n_threads comes from the caller: numba.get_num_threads() in here defeats caching)
    n_chunks = max(1, min(n_threads, n_copies))
    for chunk in nb.prange(n_chunks):
        s = np.empty(nbus, dtype=np.complex128)
        y = np.empty(nbus, dtype=np.complex128)
        a = np.zeros(nbus, dtype=np.complex128)
        b = np.zeros(nbus, dtype=np.complex128)
        c = np.zeros(nbus, dtype=np.complex128)
        d = np.zeros(nbus, dtype=np.complex128)
        jd = np.empty(nbus, dtype=np.complex128)
        u = np.empty(nbus, dtype=np.complex128)
        v = np.empty(nbus, dtype=np.complex128)
        for n in range(chunk * n_copies // n_chunks, (chunk + 1) * n_copies // n_chunks):
            if not active[n]:
                continue
            _solve_copy(
                n, lp, lq, pos_l, w_l, sp, sq, pos_s, w_s, tp, tq, pos_t, w_t,
                tapk, par, edge_row, row_off, row_trafo, ca, cb, cc, cd,
                ysh, ho_pos, ho_row, ho_val, v_ref, vstate, noload, max_iter, tol,
                out_ok, out_it, out_s_root, s, y, a, b, c, d, jd, u, v,
            )  # fmt: skip


@nb.njit(cache=True)
def _solve_copy(
    n, lp, lq, pos_l, w_l, sp, sq, pos_s, w_s, tp, tq, pos_t, w_t,
    tapk, par, edge_row, row_off, row_trafo, ca, cb, cc, cd,
    ysh, ho_pos, ho_row, ho_val, v_ref, vstate, noload, max_iter, tol,
    out_ok, out_it, out_s_root, s, y, a, b, c, d, jd, u, v,
):  # fmt: skip
    """Copy ``n``: warm start (tap-corrected), sweeps, cold-start retry; results in place."""
    nbus = v.size
    _bus_injections(n, s, lp, lq, pos_l, w_l, sp, sq, pos_s, w_s, tp, tq, pos_t, w_t)
    y[:] = ysh
    for j in range(ho_pos.size):
        y[ho_pos[j]] += ho_val[_state(ho_row[j], n, row_off, row_trafo, tapk)]
    for i in range(1, nbus):
        k = _state(edge_row[i], n, row_off, row_trafo, tapk)
        a[i], b[i], c[i], d[i] = ca[k], cb[k], cc[k], cd[k]
    # no-load profile of this copy's taps: the cold start, and the tap correction of
    # the warm start (a tap move scales everything downstream by its ratio)
    u[0] = v_ref
    for i in range(1, nbus):
        u[i] = d[i] * u[par[i]]
    v[:] = vstate[n]
    if noload[n, 0] != 0.0:  # zero: the warm start's taps are unknown (after a reset)
        for i in range(1, nbus):
            w = noload[n, i]
            v[i] *= u[i] * w.conjugate() / (w.real * w.real + w.imag * w.imag)
    v[0] = v_ref
    ok, it = _sweeps(v, s, y, par, a, b, c, d, jd, max_iter, tol)
    if not ok:
        v[:] = u
        ok, it2 = _sweeps(v, s, y, par, a, b, c, d, jd, max_iter, tol)
        it += it2
    out_ok[n] = ok
    out_it[n] = it
    out_s_root[n] = s[0]
    if ok:
        vstate[n, :] = v
        noload[n, :] = u


def _results_impl(
    active, vstate, tapk, f_pos, t_pos, row_off, row_trafo, eff, eft, etf, ett,
    ibase_f, ibase_t, base_mva, ysh_root, v_ref, s_root,
    line_lo, line_hi, trafo_lo, trafo_hi, line_k, line_unrated, trafo_k_hv, trafo_k_lv, eg_pos,
    out_line, out_trafo, out_eg, out_losses,
):  # fmt: skip
    """The branch and slack results of the copies in ``active``, from their voltages.

    Per copy ``n``: ``out_line[:, n]`` = loading (%), P and Q entering at the from end (MW, MVAr),
    losses (MW), current (kA, the larger end) of every line; ``out_trafo[:, n]`` =
    loading (%, the larger end), P and Q at the hv end, losses of every transformer;
    ``out_eg[:, n]`` = P, Q of the slack (what it feeds into the network minus what
    the elements at its bus inject); ``out_losses[n]`` = all branch losses. One
    compiled pass instead of ~25 numpy calls on small arrays (the single env builds
    one result per step). Bus voltages are left to numpy's ``abs``/``angle``: they must
    equal, to the bit, the voltages the regulator loop saw (numba's complex ``abs``
    rounds differently in the last place).
    """
    n_copies = vstate.shape[0]
    nbr = f_pos.size
    for n in nb.prange(n_copies):
        if not active[n]:
            continue
        i_root = ysh_root * v_ref
        losses = 0.0
        for r in range(nbr):
            k = _state(r, n, row_off, row_trafo, tapk)
            vf = vstate[n, f_pos[r]] if f_pos[r] >= 0 else 0.0j
            vt = vstate[n, t_pos[r]] if t_pos[r] >= 0 else 0.0j
            i_f = eff[k] * vf + eft[k] * vt
            i_t = etf[k] * vf + ett[k] * vt
            s_f = vf * i_f.conjugate() * base_mva
            s_t = vt * i_t.conjugate() * base_mva
            ka_f = abs(i_f) * ibase_f[r]
            ka_t = abs(i_t) * ibase_t[r]
            pl = s_f.real + s_t.real
            losses += pl
            if line_lo <= r < line_hi:
                j = r - line_lo
                ka = max(ka_f, ka_t)
                out_line[0, n, j] = np.inf if line_unrated[j] else ka * line_k[j]
                out_line[1, n, j] = s_f.real
                out_line[2, n, j] = s_f.imag
                out_line[3, n, j] = pl
                out_line[4, n, j] = ka
            elif trafo_lo <= r < trafo_hi:
                j = r - trafo_lo
                out_trafo[0, n, j] = max(ka_f * trafo_k_hv[j], ka_t * trafo_k_lv[j])
                out_trafo[1, n, j] = s_f.real
                out_trafo[2, n, j] = s_f.imag
                out_trafo[3, n, j] = pl
            if f_pos[r] == 0:
                i_root += i_f
            if t_pos[r] == 0:
                i_root += i_t
        s_eg = (v_ref * i_root.conjugate() - s_root[n]) * base_mva
        out_eg[:, n, :] = 0.0
        out_eg[0, n, eg_pos] = s_eg.real
        out_eg[1, n, eg_pos] = s_eg.imag
        out_losses[n] = losses


def _renamed(func, suffix: str):
    """``func`` under another name, so that numba caches its compilation separately.

    Why: numba names a function's cache files after its qualified name and line, and
    keys the entries by signature only -- not by ``parallel``. Jitting one Python
    function both ways made the serial and the parallel kernel share one cache
    entry, so whichever was compiled first was loaded for both: the single-network
    solver then ran a parallel region per solve (milliseconds on busy cores).
    """
    out = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
                             func.__defaults__, func.__closure__)
    out.__qualname__ = func.__qualname__ + suffix
    return out


solve_parallel = nb.njit(cache=True, parallel=True)(_renamed(_solve_impl, "_parallel"))
solve_serial = nb.njit(cache=True)(_renamed(_solve_impl, "_serial"))
results_parallel = nb.njit(cache=True, parallel=True)(_renamed(_results_impl, "_parallel"))
results_serial = nb.njit(cache=True)(_renamed(_results_impl, "_serial"))
