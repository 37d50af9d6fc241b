"""Flax modules: the ViT and BERT towers, FocusCLIP, and their construction from a config."""

from focusclip_jax.models.bert import BERT
from focusclip_jax.models.factory import abstract_params
from focusclip_jax.models.factory import apply_batch
from focusclip_jax.models.factory import build_image_tower
from focusclip_jax.models.factory import build_model
from focusclip_jax.models.factory import build_text_tower
from focusclip_jax.models.factory import example_batch
from focusclip_jax.models.factory import init_params
from focusclip_jax.models.factory import logical_axes
from focusclip_jax.models.factory import matmul_precision
from focusclip_jax.models.focusclip import FocusCLIP
from focusclip_jax.models.focusclip import control_heatmaps
from focusclip_jax.models.vit import ViT
