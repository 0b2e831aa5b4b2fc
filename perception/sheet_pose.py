"""The A5 sheet's pose on the table from one top-camera frame (classic vision, OpenCV + NumPy).

    from perception.sheet_pose import estimate
    pose = estimate(frame)      # frame: (H, W, 3) uint8 RGB from the top camera
    if pose.ok: pose.x, pose.y, pose.yaw   # m, m (world frame, table top), rad in (-pi/2, pi/2]

Method: pixels are classed as tape (red), sheet (white), table (the frame's dominant
chromaticity) or other (the arm). The tape's visible tape|table edges fix the image -> table
homography (`perception.tape`). The sheet's genuine edges are its white|table and white|tape
boundaries (white|arm boundaries are occlusions and are ignored); a rectangle of the sheet's
known size is fitted to them (robust Gauss-Newton in x, y, yaw) from several starts built from
the visible white region, and each result is checked against the regions: no table or tape
inside the rectangle, no white outside it. The pose is returned only when the edges seen pin
down both directions and no distinct pose explains the frame as well; otherwise `ok=False`
with the reason.

Yaw follows `mjx_env.task.yaw_of` (rotation of the sheet's short side, world x at yaw 0, about
world z), reported modulo a half turn (the sheet is symmetric) in (-pi/2, pi/2].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.tape import (RED, TABLE, WHITE, CameraModel, TapeGeometry, apply_h, boundary,
                             classify, fit_tape)

__all__ = ["SheetGeometry", "SheetPose", "estimate", "CameraModel", "TapeGeometry", "wrap_yaw"]


@dataclass(frozen=True)
class SheetGeometry:
    """The sheet: half sizes along its own x (short side) and y (long side), m; top height, m."""

    half: tuple[float, float] = (0.074, 0.105)  # A5, 148 x 210 mm
    z: float = 0.001


@dataclass
class SheetPose:
    """`ok`: whether x, y (m, world frame) and yaw (rad, modulo pi, in (-pi/2, pi/2]) are valid;
    NaN where not ok, and `reason` says why. Diagnostics: `visible` (visible white area / sheet
    area), `edge_mm` (mm of sheet edge seen along the sheet's x and y sides), `rms_mm` (edge fit
    residual), `tape_rms_mm`, `homography` ((3, 3) image px -> table m, None when the tape
    failed)."""

    ok: bool
    x: float = float("nan")
    y: float = float("nan")
    yaw: float = float("nan")
    reason: str = ""
    visible: float = 0.0
    edge_mm: tuple[float, float] = (0.0, 0.0)
    rms_mm: float = float("nan")
    tape_rms_mm: float = float("nan")
    tape_model: str = ""
    homography: np.ndarray | None = field(default=None, repr=False)


def wrap_yaw(yaw):
    """Yaw modulo a half turn, in (-pi/2, pi/2] (scalar or array, rad)."""
    return np.pi / 2 - np.mod(np.pi / 2 - np.asarray(yaw), np.pi)


def _rot(q, c, th):
    d = q - c
    cs, sn = np.cos(th), np.sin(th)
    return np.c_[cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1]]


def _residuals(loc, half, gate):
    """Nearest side of each sheet-frame point: (side 0 = x-sides / 1 = y-sides / -1 none,
    signed residual m)."""
    a, b = half
    rx = np.abs(loc[:, 0]) - a  # distance outside (+) / inside (-) the x-sides
    ry = np.abs(loc[:, 1]) - b
    okx = np.abs(loc[:, 1]) <= b + gate
    oky = np.abs(loc[:, 0]) <= a + gate
    dx = np.where(okx, np.abs(rx), np.inf)
    dy = np.where(oky, np.abs(ry), np.inf)
    side = np.where(dx <= dy, 0, 1)
    r = np.where(side == 0, rx, ry)
    side = np.where(np.minimum(dx, dy) < gate, side, -1)
    return side, r


def _fit_rect(q, half, c, th, gates=(0.010, 0.006, 0.004, 0.003, 0.002, 0.002, 0.002)):
    """Gauss-Newton (Huber IRLS) of the known-size rectangle's (centre c (2,), yaw th) to the
    edge points q (N, 2) m."""
    for gate in gates:
        loc = _rot(q, c, th)
        side, r = _residuals(loc, half, gate)
        m = side >= 0
        if m.sum() < 6:
            break
        cs, sn = np.cos(th), np.sin(th)
        sx, sy = np.sign(loc[m, 0]), np.sign(loc[m, 1])
        # d|qx|/d(cx, cy, th) = sign(qx) * (-cos, -sin, qy); d|qy| = sign(qy) * (sin, -cos, -qx).
        jx = sx[:, None] * np.c_[-cs * np.ones(m.sum()), -sn * np.ones(m.sum()), loc[m, 1]]
        jy = sy[:, None] * np.c_[sn * np.ones(m.sum()), -cs * np.ones(m.sum()), -loc[m, 0]]
        j = np.where(side[m, None] == 0, jx, jy)
        w = np.sqrt(np.minimum(1.0, 0.001 / np.maximum(np.abs(r[m]), 1e-9)))
        step, *_ = np.linalg.lstsq(j * w[:, None], -r[m] * w, rcond=None)
        c, th = c + step[:2], th + step[2]
    return c, th


def _edge_yaw(labels, edges, h):
    """The sheet edges' dominant direction, rad modulo pi/2 (a 1-deg histogram's peak of the
    white mask's gradient directions at the edge points (N, 2) px, mapped to the table)."""
    import cv2

    mask = cv2.GaussianBlur((labels == WHITE).astype(np.float32), (5, 5), 1.0)
    hgt, wid = labels.shape
    j = np.clip(edges[:, 0].astype(int), 0, wid - 1)
    i = np.clip(edges[:, 1].astype(int), 0, hgt - 1)
    gx = cv2.Sobel(mask, cv2.CV_32F, 1, 0)[i, j]
    gy = cv2.Sobel(mask, cv2.CV_32F, 0, 1)[i, j]
    d = np.c_[gx, gy] @ h[:2, :2].T  # the direction through the mapping's linear part
    ang = np.mod(np.arctan2(d[:, 1], d[:, 0]), np.pi / 2)
    hist = np.bincount(np.minimum((np.degrees(ang)).astype(int), 89), np.hypot(gx, gy), 90)
    hist = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    return np.radians(hist.argmax() + 0.5)


def _starts(white_q, half, yaws):
    """Initial (centre, yaw) guesses: for each yaw in `yaws` and its quarter turn, the visible
    white region's (N, 2) m bounding box in that frame, centred and anchored at each corner."""
    out = []
    for th in [t + k * np.pi / 2 for t in yaws for k in (0, 1)]:
        loc = _rot(white_q, np.zeros(2), th)
        lo, hi = loc.min(0), loc.max(0)
        mid, ext = (lo + hi) / 2, hi - lo
        ax, ay = np.array([np.cos(th), np.sin(th)]), np.array([-np.sin(th), np.cos(th)])
        c0 = mid[0] * ax + mid[1] * ay
        out.append((c0, th))
        for s, t in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            shift = s * max(half[0] - ext[0] / 2, 0) * ax + t * max(half[1] - ext[1] / 2, 0) * ay
            if np.linalg.norm(shift) > 1e-3:
                out.append((c0 + shift, th))
    return out


def _region_check(h_inv, labels, c, th, half, white_q, step=0.005):
    """(fraction of the rectangle's visible interior that is table or tape, fraction of white
    points more than 4 mm outside the rectangle)."""
    a, b = half[0] - 0.004, half[1] - 0.004
    gx, gy = np.meshgrid(np.arange(-a, a + 1e-9, step), np.arange(-b, b + 1e-9, step))
    loc = np.c_[gx.ravel(), gy.ravel()]
    cs, sn = np.cos(th), np.sin(th)
    world = c + np.c_[cs * loc[:, 0] - sn * loc[:, 1], sn * loc[:, 0] + cs * loc[:, 1]]
    uv = np.floor(apply_h(h_inv, world)).astype(int)
    hgt, wid = labels.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < wid) & (uv[:, 1] >= 0) & (uv[:, 1] < hgt)
    cls = labels[uv[inside, 1], uv[inside, 0]]
    wrong_in = np.isin(cls, (TABLE, RED)).mean() if inside.any() else 1.0
    wl = _rot(white_q, c, th)
    outside = (np.abs(wl[:, 0]) > half[0] + 0.004) | (np.abs(wl[:, 1]) > half[1] + 0.004)
    return float(wrong_in), float(outside.mean())


def _to_sheet_plane(p, camera, tape_z, sheet_z):
    """Table points seen at the tape's height -> the same rays at the sheet's top height."""
    c = np.asarray(camera.position[:2])
    k = (camera.position[2] - sheet_z) / (camera.position[2] - tape_z)
    return c + (p - c) * k


def estimate(frame: np.ndarray, camera: CameraModel | None = None,
             tape: TapeGeometry = TapeGeometry(), sheet: SheetGeometry = SheetGeometry(),
             model: str = "similarity", fixed_scale: bool = True, min_edge_mm: float = 20.0,
             min_visible: float = 0.15, yaw_prior: float | None = None,
             yaw_tolerance: float = np.radians(30)) -> SheetPose:
    """The sheet's pose from one top-camera frame (H, W, 3) uint8 RGB.

    `camera`: the camera's rough geometry (default: the sim's top camera); it resolves the
    tape's half-turn symmetry, the exact mapping comes from the tape. `model`: "homography" or
    "similarity", `fixed_scale` (see `perception.tape.fit_tape`). The pose is refused (`ok=False`, `reason`)
    when the tape or the sheet is not found, when less than `min_visible` of the sheet's area is
    visible, when less than `min_edge_mm` of its edge is seen along either of its axes, or when
    the fit disagrees with the image regions or another pose fits as well. `yaw_prior` (rad):
    the yaw expected (a sheet laid roughly aligned with the tape: 0; later frames: the last
    estimate); fits further than `yaw_tolerance` from it (modulo a half turn) are dropped before
    choosing, which removes the quarter-turn alternative of a partly hidden sheet."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    camera = camera or CameraModel()
    labels = classify(frame)
    tf = fit_tape(labels, camera, tape, model, fixed_scale=fixed_scale)
    if not tf.ok:
        return SheetPose(False, reason=tf.reason)
    h, h_inv = tf.h, np.linalg.inv(tf.h)
    pose = SheetPose(False, tape_rms_mm=tf.rms_mm, tape_model=tf.model, homography=h)
    wy, wx = np.nonzero(labels == WHITE)
    if len(wx) < 20:
        pose.reason = "sheet not found (no white pixels)"
        return pose
    white_q = _to_sheet_plane(apply_h(h, np.c_[wx + 0.5, wy + 0.5]), camera, tape.z, sheet.z)
    px_area = abs(np.linalg.det(h[:2, :2] / h[2, 2])) if h[2, 2] else 0.0
    pose.visible = float(len(wx) * px_area / (4 * sheet.half[0] * sheet.half[1]))
    if pose.visible < min_visible:
        pose.reason = f"sheet not found or mostly hidden ({pose.visible:.0%} of its area visible)"
        return pose
    edges = boundary(labels, WHITE, (TABLE, RED))
    if len(edges) < 10:
        pose.reason = f"sheet edges hidden ({len(edges)} edge points)"
        return pose
    q = _to_sheet_plane(apply_h(h, edges), camera, tape.z, sheet.z)
    import cv2

    yaws = [_edge_yaw(labels, edges, h)]
    box_yaw = np.radians(cv2.minAreaRect((white_q * 1e4).astype(np.float32))[2])
    if abs(np.mod(box_yaw - yaws[0] + np.pi / 4, np.pi / 2) - np.pi / 4) > np.radians(2):
        yaws.append(box_yaw)
    starts = _starts(white_q, sheet.half, yaws)
    return _fit_sheet(pose, q, white_q, labels, h_inv, sheet.half, np.sqrt(px_area),
                      min_edge_mm, starts, yaw_prior, yaw_tolerance)


def _fit_sheet(pose, q, white_q, labels, h_inv, half, px_m, min_edge_mm, starts,
               yaw_prior=None, yaw_tolerance=np.pi):
    """Fit from every start, keep the region-consistent fit (within `yaw_tolerance` of
    `yaw_prior`, if given) with the most edge support."""
    fits = []
    for c, th in starts:
        c, th = _fit_rect(q, half, c, th)
        side, r = _residuals(_rot(q, c, th), half, 0.002)
        wrong_in, white_out = _region_check(h_inv, labels, c, th, half, white_q)
        support = [float((side == k).sum() * px_m * 1000) for k in (0, 1)]
        fits.append((c, th, support, wrong_in, white_out, r[side >= 0]))
    good = [f for f in fits if f[3] < 0.03 and f[4] < 0.03]
    if not good:
        best = min(fits, key=lambda f: f[3] + f[4])
        pose.reason = (f"no rectangle fits the sheet region (table/tape inside {best[3]:.0%}, "
                       f"white outside {best[4]:.0%})")
        return pose
    if yaw_prior is not None:
        near = [f for f in good if abs(wrap_yaw(f[1] - yaw_prior)) <= yaw_tolerance]
        if not near:
            pose.reason = (f"no fit within {np.degrees(yaw_tolerance):.0f} deg of the expected "
                           f"yaw {np.degrees(yaw_prior):.0f} deg")
            return pose
        good = near
    good.sort(key=lambda f: -sum(f[2]))
    c, th, support, _, _, r = good[0]
    pose.edge_mm = (support[0], support[1])
    pose.rms_mm = float(np.sqrt(np.mean(r ** 2)) * 1000) if len(r) else float("nan")
    if min(support) < min_edge_mm:
        pose.reason = (f"too little sheet edge visible ({support[0]:.0f} / {support[1]:.0f} mm "
                       f"along its x / y sides, need {min_edge_mm:.0f})")
        return pose
    for c2, th2, s2, *_ in good[1:]:
        dyaw = abs(wrap_yaw(th2 - th))
        if (np.linalg.norm(c2 - c) > 0.005 or dyaw > np.radians(2)) and sum(s2) > 0.9 * sum(support):
            pose.reason = (f"ambiguous: two poses fit ({np.linalg.norm(c2 - c) * 1000:.0f} mm, "
                           f"{np.degrees(dyaw):.1f} deg apart)")
            return pose
    pose.ok, pose.x, pose.y, pose.yaw = True, float(c[0]), float(c[1]), float(wrap_yaw(th))
    return pose
