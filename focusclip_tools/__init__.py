"""Offline tools around FocusCLIP, apart from the training data path.

``describe`` writes pose descriptions (LLM prompting, keypoint geometry), ``demo_data`` renders
the offline demo dataset, ``demo`` runs ``make demo``, ``kinetics_frames`` extracts Kinetics
evaluation frames from videos and ``text_lengths`` reports description token lengths. They
import the library (``focusclip_jax``, ``input_pipeline``); the library never imports them.
"""
