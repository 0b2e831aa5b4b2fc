"""Classic-vision perception for the real arm: the sheet's pose from one top-camera frame
(`perception.sheet_pose.estimate`), calibrated by the red tape frame (`perception.tape`)."""
from perception.sheet_pose import SheetGeometry, SheetPose, estimate, wrap_yaw
from perception.tape import CameraModel, TapeGeometry

__all__ = ["CameraModel", "SheetGeometry", "SheetPose", "TapeGeometry", "estimate", "wrap_yaw"]
