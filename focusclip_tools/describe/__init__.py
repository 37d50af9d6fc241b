"""Pose descriptions for MPII records: the paper's LLM prompting and an offline stand-in.

FocusCLIP trains on MPII Pose Descriptions: one paragraph per image, written by an LLM that
sees only the activity label and the annotated keypoints, never the image (docs/method.md
§4.2). The released files cover the MPII train/val images; new images, other LLMs or ablations
on description quality need the generator: ``llm_prompt`` (the paper's prompt and clients),
``geometry`` (a deterministic describer writing the same paragraph structure, with ``pose``,
``scene``, ``words`` and ``keypoints`` below it) and ``cli`` (fills a JSON file of records).
"""
