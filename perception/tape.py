"""Pixel classes and the image -> table homography from the red tape frame.

Conventions: frames are (H, W, 3) uint8 RGB; pixel (row i, col j) covers [j, j+1] x [i, i+1] in
continuous image coordinates (u right, v down), so its centre is (j + 0.5, i + 0.5). Table
coordinates are the world frame's x, y in metres on the table top (z = 0).

The tape is the scene's red frame of 20 mm bars around an A5 opening: it is symmetric under a
half turn, so the camera model (an approximate calibration: the sim's top camera by default)
resolves that symmetry and initialises the fit. The fit itself uses only the tape's visible
edges (tape | table boundaries), so the arm or the sheet covering any part of it is harmless
as long as two edges of each direction stay visible.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Pixel classes.
OTHER, TABLE, RED, WHITE = 0, 1, 2, 3


@dataclass(frozen=True)
class TapeGeometry:
    """The tape frame: centre (m, world), outer and inner half sizes along world x, y (m), top z."""

    centre: tuple[float, float] = (0.275, 0.175)
    outer: tuple[float, float] = (0.094, 0.125)
    inner: tuple[float, float] = (0.074, 0.105)
    z: float = 0.0004

    @classmethod
    def from_model(cls, mj_model) -> "TapeGeometry":
        """Read the frame from a MuJoCo model with geoms tape_px, tape_nx, tape_py, tape_ny."""
        import mujoco

        data = mujoco.MjData(mj_model)
        mujoco.mj_forward(mj_model, data)
        px, py = (mj_model.geom(n).id for n in ("tape_px", "tape_py"))
        cx, cy = 0.5 * (data.geom_xpos[px] + data.geom_xpos[mj_model.geom("tape_nx").id])[:2]
        ox = data.geom_xpos[px][0] - cx + mj_model.geom_size[px][0]
        oy = data.geom_xpos[py][1] - cy + mj_model.geom_size[py][1]
        ix, iy = ox - 2 * mj_model.geom_size[px][0], oy - 2 * mj_model.geom_size[py][1]
        top = data.geom_xpos[px][2] + mj_model.geom_size[px][2]
        return cls((float(cx), float(cy)), (float(ox), float(oy)), (float(ix), float(iy)),
                   float(top))

    def lines(self) -> np.ndarray:
        """(8, 4) edges relative to the centre: (axis 0 = x-line / 1 = y-line, value, half extent
        along the line, 1 = outer / 0 = inner), in metres."""
        rows = []
        for outer, (hx, hy) in ((1, self.outer), (0, self.inner)):
            rows += [(0, s * hx, hy, outer) for s in (-1, 1)]
            rows += [(1, s * hy, hx, outer) for s in (-1, 1)]
        return np.asarray(rows, float)


@dataclass(frozen=True)
class CameraModel:
    """Approximate pinhole camera over the table (MuJoCo conventions: the camera looks along
    -(xaxis x yaxis), fovy is the vertical field of view). The default is the sim's top camera
    (assets/paper_return.xml); a real camera needs its rough pose here (a few cm, a few deg)."""

    position: tuple[float, float, float] = (0.275, 0.175, 0.4)
    xaxis: tuple[float, float, float] = (0.0, -1.0, 0.0)
    yaxis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    fovy_deg: float = 90.0

    @classmethod
    def from_model(cls, mj_model, camera: str = "top") -> "CameraModel":
        import mujoco

        data = mujoco.MjData(mj_model)
        mujoco.mj_forward(mj_model, data)
        cam = mj_model.camera(camera).id
        rot = data.cam_xmat[cam].reshape(3, 3)
        return cls(tuple(map(float, data.cam_xpos[cam])), tuple(map(float, rot[:, 0])),
                   tuple(map(float, rot[:, 1])), float(mj_model.cam_fovy[cam]))

    def table_to_image(self, width: int, height: int, z: float = 0.0) -> np.ndarray:
        """(3, 3) homography: table (x, y, 1) m at height z -> image (u, v, 1) px."""
        ex, ey = np.asarray(self.xaxis, float), np.asarray(self.yaxis, float)
        rot = np.stack([ex, ey, np.cross(ex, ey)], axis=1)  # camera axes as columns
        c = np.asarray(self.position, float)
        m = np.stack([rot.T[:, 0], rot.T[:, 1], rot.T @ (np.array([0, 0, z]) - c)], axis=1)
        f = (height / 2) / np.tan(np.radians(self.fovy_deg) / 2)
        k = np.array([[f, 0, -width / 2], [0, -f, -height / 2], [0, 0, -1.0]])
        return k @ m


def apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (3, 3) homography."""
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def classify(frame: np.ndarray) -> np.ndarray:
    """(H, W) int8 pixel classes: RED (tape), WHITE (sheet), TABLE (the frame's dominant
    background chromaticity), OTHER (the arm, shadows, anything else)."""
    r, g, b = (c.astype(np.float32) for c in cv2.split(np.ascontiguousarray(frame)))
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    red = (r >= 60) & (r - np.maximum(g, b) > 0.45 * r)
    white = (mn >= 110) & (mx - mn <= 0.2 * mx)
    labels = np.full(r.shape, OTHER, np.int8)
    cand = ~red & ~white & (mx >= 40)
    if cand.sum() > 50:
        s = r + g + b
        sub = cand[::3, ::3]  # the median chromaticity from every ninth pixel
        ref = np.median(np.c_[r[::3, ::3][sub], g[::3, ::3][sub]] / s[::3, ::3][sub, None], axis=0)
        tol = 0.04 * s
        near = (np.abs(r - ref[0] * s) < tol) & (np.abs(g - ref[1] * s) < tol)
        labels[cand & near] = TABLE
    labels[red] = RED
    labels[white] = WHITE
    return labels


def boundary(labels: np.ndarray, inside: int, outside: tuple[int, ...]) -> np.ndarray:
    """(N, 2) image points (u, v) px midway between 4-neighbour pixels of class `inside` and
    one of `outside`: the class boundary, unbiased to within the pixel quantisation."""
    out = np.isin(labels, outside)
    ins = labels == inside
    pts = []
    for axis in (0, 1):  # 0: vertical neighbours (row i, i+1); 1: horizontal
        a, b = (ins[:-1], ins[1:]) if axis == 0 else (ins[:, :-1], ins[:, 1:])
        oa, ob = (out[:-1], out[1:]) if axis == 0 else (out[:, :-1], out[:, 1:])
        i, j = np.nonzero((a & ob) | (oa & b))
        if axis == 0:
            pts.append(np.c_[j + 0.5, i + 1.0])
        else:
            pts.append(np.c_[j + 1.0, i + 0.5])
    return np.concatenate(pts).astype(float)


def _template_shift(labels, h0, tape: TapeGeometry, res=0.002, pad=0.04):
    """Translation (dx, dy) m of the tape from its nominal place: the rectified red mask
    correlated with the frame's template (bars +1, a 2 cm band either side -0.5)."""
    ox, oy = tape.outer
    hx, hy = ox + 2 * pad, oy + 2 * pad  # window half sizes
    n = (int(round(2 * hx / res)) + 1, int(round(2 * hy / res)) + 1)  # (rows ~ x, cols ~ y)
    cx, cy = tape.centre
    grid = np.array([[0, res, cx - hx], [res, 0, cy - hy], [0, 0, 1.0]])  # (col, row) -> (x, y)
    red = (labels == RED).astype(np.float32)
    rect = cv2.warpPerspective(red, h0 @ grid, (n[1], n[0]), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    tx, ty = np.meshgrid(np.arange(-ox - pad / 2, ox + pad / 2 + res / 2, res),
                         np.arange(-oy - pad / 2, oy + pad / 2 + res / 2, res), indexing="ij")
    ring = (np.abs(tx) <= ox) & (np.abs(ty) <= oy) & ~((np.abs(tx) < tape.inner[0]) & (np.abs(ty) < tape.inner[1]))
    tmpl = np.where(ring, 1.0, -0.5).astype(np.float32)
    score = cv2.matchTemplate(rect, tmpl, cv2.TM_CCORR)
    _, best, _, (c, r) = cv2.minMaxLoc(score)
    # The template's centre at offset (r, c) sits at x = cx - hx + (r + rows/2) res.
    dx = (r + (tmpl.shape[0] - 1) / 2) * res - hx
    dy = (c + (tmpl.shape[1] - 1) / 2) * res - hy
    return dx, dy, best / max(ring.sum(), 1)


def _solve(p0, axis, value, w, model):
    """Least squares for the correction G (nominal table -> table) from point-on-line rows;
    returns G (3, 3) and the design matrix's inverse condition number."""
    x, y = p0[:, 0], p0[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    if model == "homography":  # x' = (g1 x + g2 y + g3) / (g7 x + g8 y + 1)
        rx = np.c_[x, y, one, zero, zero, zero, -value * x, -value * y]
        ry = np.c_[zero, zero, zero, x, y, one, -value * x, -value * y]
    elif model == "similarity":  # x' = a x - b y + tx, y' = b x + a y + ty
        rx = np.c_[x, -y, one, zero]
        ry = np.c_[y, x, zero, one]
    else:  # fixed-scale: a = 1 (the camera model's scale), small rotation b
        rx = np.c_[-y, one, zero]
        ry = np.c_[x, zero, one]
        value = value - np.where(axis == 0, x, y)
    a = np.where(axis[:, None] == 0, rx, ry) * w[:, None]
    sol, *_ = np.linalg.lstsq(a, value * w, rcond=None)
    if model == "fixed-scale":
        sol = np.r_[1.0, sol]
    sv = np.linalg.svd(a, compute_uv=False)
    if model == "homography":
        g = np.append(sol, 1.0).reshape(3, 3)
    else:
        g = np.array([[sol[0], -sol[1], sol[2]], [sol[1], sol[0], sol[3]], [0, 0, 1.0]])
    return g, sv[-1] / max(sv[0], 1e-12)


def _assign(q, lines, gate):
    """Nearest tape edge (index, signed residual m) of each point q (N, 2) relative to the
    tape centre; index -1 where none is within `gate` m."""
    coord = np.where(lines[None, :, 0] == 0, q[:, None, 0], q[:, None, 1])
    along = np.where(lines[None, :, 0] == 0, q[:, None, 1], q[:, None, 0])
    res = coord - lines[None, :, 1]
    dist = np.where(np.abs(along) <= lines[None, :, 2] + gate, np.abs(res), np.inf)
    idx = dist.argmin(1)
    r = res[np.arange(len(q)), idx]
    return np.where(dist.min(1) < gate, idx, -1), r


@dataclass
class TapeFit:
    """Result of `fit_tape`: `h` (3, 3) image px -> table m (None when not ok)."""

    ok: bool
    reason: str
    h: np.ndarray | None = None
    model: str = ""
    rms_mm: float = float("nan")
    edges_seen: int = 0


def fit_tape(labels: np.ndarray, camera: CameraModel, tape: TapeGeometry,
             model: str = "similarity", min_points: int = 12,
             fixed_scale: bool = True) -> TapeFit:
    """Image -> table homography from the tape's visible edges (IRLS, Huber weights, shrinking
    gates). `model`: "homography" (8 dof) or "similarity" (4 dof, a camera looking straight
    down); a homography that the visible edges cannot pin down falls back to a similarity. The
    scale needs opposite sides of the frame: without them, `fixed_scale` takes it from the
    camera model (`model` is then "fixed-scale"; its error grows with the camera model's
    height error: +-1 cm in 40 cm is +-2.5 % of the distance to the tape centre), else the fit
    fails."""
    hgt, wid = labels.shape
    if (labels == RED).sum() < 20:
        return TapeFit(False, "tape not found (no red pixels)")
    h0 = camera.table_to_image(wid, hgt, tape.z)
    dx, dy, score = _template_shift(labels, h0, tape)
    if score < 0.1:
        return TapeFit(False, f"tape not found (template match {score:.2f} < 0.10)")
    pts = boundary(labels, RED, (TABLE,))
    if len(pts) < 4 * min_points:
        return TapeFit(False, f"tape edges hidden ({len(pts)} edge points)")
    centre = np.asarray(tape.centre)
    p0 = apply_h(np.linalg.inv(h0), pts) - centre  # nominal table coords, tape-centred
    lines = tape.lines()
    g = np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1.0]])  # the tape appears shifted by +d
    for it, gate in enumerate((0.008, 0.006, 0.004, 0.003, 0.002, 0.002)):
        q = apply_h(g, p0)
        idx, r = _assign(q, lines, gate)
        counts = np.bincount(idx[idx >= 0], minlength=8)
        seen = counts >= min_points
        vals = [lines[seen & (lines[:, 0] == k), 1] for k in (0, 1)]
        # Opposite sides of the frame fix the scale (one bar's two edges, 20 mm apart, would
        # leave it to within a pixel in 11 at 448 px): a similarity needs them in one direction
        # and an edge in the other, a homography opposite sides in both.
        wide = [len(v) > 0 and v.min() < 0 < v.max() for v in vals]
        use = model if model == "similarity" or all(wide) else "similarity"
        if not any(wide):
            use = "fixed-scale"  # the camera model's scale, rotation and shift fitted
        if min(len(v) for v in vals) == 0 or (use == "fixed-scale" and not fixed_scale):
            return TapeFit(False, f"tape edges hidden (edges seen: {int(seen.sum())}/8, "
                           f"opposite sides: {sum(wide)})", edges_seen=int(seen.sum()))
        keep = (idx >= 0) & seen[np.maximum(idx, 0)]
        w = np.minimum(1.0, 0.001 / np.maximum(np.abs(r[keep]), 1e-9))  # Huber at 1 mm
        gnew, cond = _solve(p0[keep], lines[idx[keep], 0], lines[idx[keep], 1], np.sqrt(w), use)
        if cond < 1e-6:
            return TapeFit(False, f"tape fit ill-conditioned ({cond:.1e})")
        g = gnew
    q = apply_h(g, p0)
    idx, r = _assign(q, lines, 0.002)
    rms = float(np.sqrt(np.mean(r[idx >= 0] ** 2)) * 1000) if (idx >= 0).any() else np.inf
    shift = np.hypot(*(apply_h(g, np.zeros((1, 2)))[0]))
    if shift > 0.05:
        return TapeFit(False, f"tape fit {shift * 1000:.0f} mm from the camera model's guess")
    t = np.array([[1, 0, centre[0]], [0, 1, centre[1]], [0, 0, 1.0]])
    h = t @ g @ np.linalg.inv(t) @ np.linalg.inv(h0)
    h = h / h[2, 2]
    table_on_bars, red_off_bars = _region_check(labels, np.linalg.inv(h), tape)
    if table_on_bars > 0.03 or red_off_bars > 0.03:
        return TapeFit(False, f"tape fit disagrees with the image (table on the bars "
                       f"{table_on_bars:.0%}, red beside them {red_off_bars:.0%})")
    return TapeFit(True, "", h, use, rms, int(seen.sum()))


def _region_check(labels, h_inv, tape: TapeGeometry, step=0.004, band=0.006):
    """(fraction of visible bar-centre samples classed table, fraction of samples 6 mm beside
    the bars classed red): both near 0 for a right fit, whatever covers the tape."""
    on, off = [], []
    bar = (tape.outer[0] - tape.inner[0], tape.outer[1] - tape.inner[1])
    for k, (ho, hi) in enumerate(((tape.outer[0], tape.inner[0]), (tape.outer[1], tape.inner[1]))):
        span = tape.outer[1 - k]
        t = np.arange(-span + bar[1 - k] / 2, span - bar[1 - k] / 2 + 1e-9, step)
        for s in (-1, 1):
            for pos, dst in (((ho + hi) / 2, on), (ho + band, off), (hi - band, off)):
                lim = span if dst is on else span - bar[1 - k] - band
                tt = t[np.abs(t) <= lim]
                xy = np.c_[np.full_like(tt, s * pos), tt] if k == 0 else np.c_[tt, np.full_like(tt, s * pos)]
                dst.append(xy)
    hgt, wid = labels.shape

    def classes(xy):
        uv = np.floor(apply_h(h_inv, np.concatenate(xy) + tape.centre)).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < wid) & (uv[:, 1] >= 0) & (uv[:, 1] < hgt)
        return labels[uv[inside, 1], uv[inside, 0]]

    c_on, c_off = classes(on), classes(off)
    return float((c_on == TABLE).mean()) if len(c_on) else 1.0, \
        float((c_off == RED).mean()) if len(c_off) else 1.0
