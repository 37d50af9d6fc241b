"""The paper's CLIP baseline: the vitb16 recipe without the highlighted view.

Same towers, data (MPII Pose Descriptions) and optimizer; no alpha, no heatmaps, and the
single loss term NTX(I, T) (docs/method.md §1.4, §3.2). Not OpenAI CLIP.
"""

from configs import vitb16
from focusclip_jax import config_lib


def get_config():
  config = vitb16.get_config()
  config.model.focus.enabled = False
  config.loss.terms = config_lib.CLIP_LOSS_TERMS
  return config
