"""MPII Pose Descriptions as a TFDS dataset (importing this registers the builder)."""

from input_pipeline.mpii_pose_descriptions.mpii_pose_descriptions_dataset_builder import Builder
from input_pipeline.mpii_pose_descriptions.mpii_pose_descriptions_dataset_builder import MpiiConfig

NAME = "mpii_pose_descriptions"
