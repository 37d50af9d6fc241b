"""FocusCLIP, the paper recipe (docs/method.md §9).

ViT-B/16 (AugReg in21k->in1k, 224 px, class-token pooling) + BERT-base-uncased (512 tokens,
mean over all positions) -> two Linear(768->512) projections; highlighted view
x * (alpha + (1 - alpha) * heatmap) through the same ViT, alpha learnable from 0.5;
loss = NTX(H,I) + NTX(H,T) + NTX(I,T), NT-Xent with tau = 0.5; SGD(momentum 0.9), lr 5e-4
constant, clip 1.0, batch 32, 64 epochs, fp32, seed 42; GPT-4 MPII Pose Descriptions.

  python main.py --config=configs/vitb16.py --workdir=/tmp/focusclip
  python main.py --config=configs/vitb16.py --config.model.dtype=bfloat16 ...   # overrides

All fields and their meaning: focusclip_jax/config_lib.py.
"""

from focusclip_jax import config_lib


def get_config():
  return config_lib.base_config()
