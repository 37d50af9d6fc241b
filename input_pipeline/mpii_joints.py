"""The MPII 16-joint skeleton: joint order, left/right limbs and the ten body parts.

One table for everything that reads MPII keypoints: the heatmaps and the TFDS builder on the
training path, and the offline tools (pose describer, demo renderer). Left/right are the
person's own sides; the ten parts are the reference's heatmap groups (docs/method.md §2).
Pure Python (no TensorFlow), so tools can import it cheaply.
"""

from __future__ import annotations

MPII_JOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
NUM_JOINTS = len(MPII_JOINTS)
(R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, PELVIS, THORAX, UPPER_NECK, HEAD_TOP,
 R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST) = range(NUM_JOINTS)

# Limbs from the body outwards, by the person's own side.
LEGS: dict[str, tuple[int, int, int]] = {
    "left": (L_HIP, L_KNEE, L_ANKLE), "right": (R_HIP, R_KNEE, R_ANKLE)}
ARMS: dict[str, tuple[int, int, int]] = {
    "left": (L_SHOULDER, L_ELBOW, L_WRIST), "right": (R_SHOULDER, R_ELBOW, R_WRIST)}

# The reference's ten heatmap groups (name, joints); a part is drawn when >= 2 are visible.
BODY_PARTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("head", (THORAX, UPPER_NECK, HEAD_TOP, R_SHOULDER, L_SHOULDER)),
    ("torso", (PELVIS, THORAX, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP)),
    ("left_upper_arm", (L_SHOULDER, L_ELBOW, THORAX)),
    ("right_upper_arm", (R_SHOULDER, R_ELBOW, THORAX)),
    ("left_lower_arm", (L_ELBOW, L_WRIST, L_SHOULDER)),
    ("right_lower_arm", (R_ELBOW, R_WRIST, R_SHOULDER)),
    ("left_upper_leg", (L_HIP, L_KNEE, PELVIS)),
    ("right_upper_leg", (R_HIP, R_KNEE, PELVIS)),
    ("left_lower_leg", (L_KNEE, L_ANKLE, L_HIP)),
    ("right_lower_leg", (R_KNEE, R_ANKLE, R_HIP)),
)


def joint_name(j: int) -> str:
  """Joint index -> its name in words ("right ankle")."""
  return MPII_JOINTS[j].replace("_", " ")
